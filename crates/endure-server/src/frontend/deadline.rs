//! Deadlines of long polls: the server's own limit, or shortly before the client's deadline
//! (its `grpc-timeout` header) so the client gets an answer instead of a time-out.

use crate::clock;
use std::time::Duration;
use tokio::time::Instant;
use tonic::Request;

/// When a long poll must answer: after `max`, or shortly before the client's own deadline.
pub(crate) fn poll_deadline<T>(req: &Request<T>, max: Duration) -> Instant {
    let client = req
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map(|d| d.saturating_sub(Duration::from_millis(500)).max(Duration::from_millis(100)));
    clock::monotonic() + client.map_or(max, |c| c.min(max))
}

/// A task poll's deadline must leave the server time to wait (more than 2 s), as the real
/// server requires: a shorter one is refused before anything else.
pub(crate) fn check_long_poll_timeout<T>(req: &Request<T>) -> crate::error::ApiResult<()> {
    let client =
        req.metadata().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
    match client {
        Some(d) if d <= Duration::from_secs(2) => {
            Err(crate::error::ApiError::FailedPrecondition("Context timeout is too short.".into()))
        }
        _ => Ok(()),
    }
}

/// Parses a `grpc-timeout` header value (`100m`, `5S` …).
pub(crate) fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}
