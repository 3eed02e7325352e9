//! Checks of request fields every service shares: ids and payload sizes against Temporal's
//! default limits.
//!
//! A leaf: it knows no namespace, run or store; callers name the field for the message.

use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::common::v1::Payloads;
use endure_core::limits::Limits;

/// Maximum length of ids (workflow id, activity id, signal name …).
pub const MAX_ID_LENGTH: usize = 1000;

/// Checks an id's presence and length (`what`: the field's name in the message).
pub fn check_id(value: &str, what: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::InvalidArgument(format!("{what} is not set on request.")));
    }
    if value.len() > MAX_ID_LENGTH {
        return Err(ApiError::InvalidArgument(format!(
            "{what} exceeds maximum allowed length ({}/{MAX_ID_LENGTH})",
            value.len()
        )));
    }
    Ok(())
}

/// Checks an optional id's length (a type or queue name; `message` when too long).
pub fn check_length(value: &str, message: &str) -> ApiResult<()> {
    if value.len() > MAX_ID_LENGTH {
        return Err(ApiError::InvalidArgument(message.into()));
    }
    Ok(())
}

/// Checks a run id: empty (the current run) or a UUID.
pub fn check_run_id(run_id: &str) -> ApiResult<()> {
    if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
        return Err(ApiError::InvalidArgument("Invalid RunId.".into()));
    }
    Ok(())
}

/// Checks a payload set against the blob size limit.
pub fn check_blob(p: &Option<Payloads>, limits: &Limits) -> ApiResult<()> {
    use prost::Message;
    if p.as_ref().is_some_and(|p| limits.blob_too_large(p.encoded_len())) {
        return Err(ApiError::InvalidArgument("Blob data size exceeds limit.".into()));
    }
    Ok(())
}
