//! gRPC plumbing: connecting to a WorkflowService and building the small messages every
//! scenario needs (payloads, durations, task queues).
//!
//! Requests go out uncompressed (no gzip) so the client spends as little CPU as possible.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::time::Duration;
use temporalio_protos::temporal::api::common::v1::{Payload, Payloads};
use temporalio_protos::temporal::api::enums::v1::TaskQueueKind;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::GetSystemInfoRequest;
use temporalio_protos::temporal::api::workflowservice::v1::workflow_service_client::WorkflowServiceClient;
use tonic::transport::{Channel, Endpoint};

/// A WorkflowService client over one HTTP/2 connection (cheap to clone; clones share it).
pub type Client = WorkflowServiceClient<Channel>;

/// Largest response the client accepts (long histories, big pages).
const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// Turns `host:port` into `http://host:port`; full URLs are kept as they are.
pub fn normalize_address(address: &str) -> String {
    if address.contains("://") { address.to_owned() } else { format!("http://{address}") }
}

/// Opens a new connection to `address` (`host:port` or `http://host:port`).
pub async fn connect(address: &str) -> Result<Client> {
    let url = normalize_address(address);
    let endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("invalid server address {address}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_adaptive_window(true);
    let channel = endpoint.connect().await.with_context(|| format!("connecting to {url}"))?;
    Ok(WorkflowServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Connects and calls GetSystemInfo once: `Ok` means the server answers the Temporal API.
pub async fn probe_system_info(address: &str) -> Result<()> {
    let mut client = connect(address).await?;
    let mut request = tonic::Request::new(GetSystemInfoRequest::default());
    request.set_timeout(Duration::from_secs(2));
    client.get_system_info(request).await.context("GetSystemInfo")?;
    Ok(())
}

/// A one-element `Payloads` holding `value` as a JSON string (`json/plain`, as SDKs encode it).
pub fn json_payloads(value: &str) -> Payloads {
    let data = serde_json::to_vec(value).expect("a string always serializes");
    Payloads {
        payloads: vec![Payload {
            metadata: HashMap::from([("encoding".to_owned(), b"json/plain".to_vec())]),
            data,
            ..Default::default()
        }],
    }
}

/// A protobuf `Duration` from a std one.
pub fn proto_duration(d: Duration) -> prost_wkt_types::Duration {
    prost_wkt_types::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

/// A normal (non-sticky) task queue named `name`.
pub fn task_queue(name: &str) -> TaskQueue {
    TaskQueue { name: name.to_owned(), kind: TaskQueueKind::Normal as i32, ..Default::default() }
}

/// The identity the bench reports to the server (`endure-bench@<host>:<pid>`).
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("endure-bench@{host}:{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme() {
        assert_eq!(normalize_address("127.0.0.1:7233"), "http://127.0.0.1:7233");
        assert_eq!(normalize_address("http://h:1"), "http://h:1");
    }

    #[test]
    fn payloads_are_json() {
        let p = json_payloads("hi");
        assert_eq!(p.payloads[0].data, b"\"hi\"");
        assert_eq!(p.payloads[0].metadata["encoding"], b"json/plain");
    }
}
