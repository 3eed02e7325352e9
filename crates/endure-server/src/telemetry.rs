//! Traces: how the server's spans join the traces of the clients and workers around it.
//!
//! The server's spans are `tracing` spans (RPCs, task dispatches, timer fires, cross-workflow
//! steps, commits); the binary exports them over OTLP when tracing is configured and calls
//! [`set_enabled`]. This module carries trace context in and out, in the two places the
//! official SDKs put it:
//! - a W3C `traceparent` in the gRPC metadata (clients with a gRPC tracing interceptor);
//! - the Temporal header `_tracer-data` (the SDKs' OpenTelemetry interceptors): a `json/plain`
//!   payload of the W3C carrier, written by the client into start, signal, query and update
//!   requests, and by the workflow into its activity, child and signal commands.
//!
//! While tracing is on, the server passes its own context on where a worker reads one: the
//! started event of a run started by a client or a parent, an activity task handed to a
//! worker, a signal sent by another workflow. So a trace runs client → server → worker →
//! server → worker. A header is rewritten only when it already carries `_tracer-data` (its
//! sender traces); while tracing is off nothing is read or changed, and histories are exactly
//! what clients and workers wrote.
//!
//! It does not know how spans are exported (the binary's business) nor what a request means.

use endure_api::temporal::api::common::v1::{Header, Payload};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header key the SDKs' OpenTelemetry interceptors use.
pub const HEADER_KEY: &str = "_tracer-data";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns context propagation on (the binary, once it exports spans).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether spans are exported: only then is trace context read and passed on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn from_carrier(carrier: &HashMap<String, String>) -> Option<Context> {
    let cx = TraceContextPropagator::new().extract(carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// The trace context a Temporal header carries, if any.
pub fn from_header(header: Option<&Header>) -> Option<Context> {
    let payload = header?.fields.get(HEADER_KEY)?;
    let carrier: HashMap<String, String> = serde_json::from_slice(&payload.data).ok()?;
    from_carrier(&carrier)
}

/// The trace context of gRPC metadata (`traceparent`, `tracestate`), if any.
pub fn from_metadata(metadata: &tonic::metadata::MetadataMap) -> Option<Context> {
    let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), metadata.get(k)?.to_str().ok()?.to_owned())))
        .collect();
    from_carrier(&carrier)
}

/// Makes `span` a child of `parent` (call before the span is first entered).
pub fn adopt(span: &Span, parent: Option<Context>) {
    if let Some(cx) = parent {
        // Fails only if the span was already started or is disabled: it keeps its parent.
        let _ = span.set_parent(cx);
    }
}

/// Writes `span`'s context into `header` in place of the `_tracer-data` its sender wrote, so
/// the worker that reads it continues the trace under `span`. Does nothing while tracing is
/// off or when the header carries no `_tracer-data`.
pub fn pass_on(header: &mut Option<Header>, span: &Span) {
    if !enabled() {
        return;
    }
    let Some(payload) = header.as_mut().and_then(|h| h.fields.get_mut(HEADER_KEY)) else { return };
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    if let Ok(data) = serde_json::to_vec(&carrier) {
        *payload = Payload {
            metadata: HashMap::from([("encoding".to_owned(), b"json/plain".to_vec())]),
            data,
            ..Default::default()
        };
    }
}

/// A span for a step the server takes for a run (a child start, a signal to another
/// workflow), under the context the workflow's command carried in `header`. Disabled unless
/// tracing is on.
pub fn step_span(
    name: &'static str,
    namespace: &str,
    workflow_id: &str,
    run_id: &str,
    event_id: i64,
    header: Option<&Header>,
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "step",
        "otel.name" = name,
        "otel.kind" = "internal",
        "temporal.namespace" = namespace,
        "temporal.workflow_id" = workflow_id,
        "temporal.run_id" = run_id,
        "temporal.event_id" = event_id,
    );
    adopt(&span, from_header(header));
    span
}

/// Records the trace and span ids of `span` on its `trace_id` and `span_id` fields, so log
/// lines written inside it name them (JSON logs).
pub fn record_ids(span: &Span) {
    if !enabled() {
        return;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        span.record("trace_id", tracing::field::display(sc.trace_id()));
        span.record("span_id", tracing::field::display(sc.span_id()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data: &str) -> Option<Header> {
        Some(Header {
            fields: HashMap::from([(
                HEADER_KEY.to_owned(),
                Payload { data: data.as_bytes().to_vec(), ..Default::default() },
            )]),
        })
    }

    #[test]
    fn reads_the_sdks_carrier_and_ignores_anything_else() {
        let cx = from_header(
            header(r#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#).as_ref(),
        )
        .expect("a context");
        assert_eq!(cx.span().span_context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(cx.span().span_context().span_id().to_string(), "b7ad6b7169203331");
        assert!(from_header(header("not json").as_ref()).is_none());
        assert!(from_header(header(r#"{"traceparent":"00-zz-yy-01"}"#).as_ref()).is_none());
        assert!(from_header(None).is_none());
    }

    #[test]
    fn nothing_is_changed_while_tracing_is_off() {
        let mut h = header(r#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#);
        let before = h.clone();
        pass_on(&mut h, &Span::none());
        assert_eq!(h, before);
    }
}
