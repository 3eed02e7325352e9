//! Logs and traces of the process: the log lines (text or JSON) and, when configured, the
//! OpenTelemetry exporter that sends the server's spans over OTLP.
//!
//! Tracing is configured by the standard environment variables, which win over the
//! configuration file's `[tracing]` section:
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: over
//!   HTTP the spans go to `<base>/v1/traces`), else `tracing.otlp_endpoint`; none: tracing off;
//! - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else
//!   `tracing.otlp_protocol`: `grpc` (default) or `http/protobuf`;
//! - `OTEL_SERVICE_NAME`, else `tracing.service_name` (`endure`);
//! - `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn tracing off;
//! - the exporter's and batch processor's own variables (`OTEL_BSP_SCHEDULE_DELAY`,
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER` …) as the OpenTelemetry SDK reads them.
//!
//! Off, no exporter exists, no span is recorded for it and `endure_server::telemetry` passes
//! no context on.

use crate::config::{LogFormat, OtlpProtocol, TracingSection};
use anyhow::{Context, Result, bail};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The URL spans are sent to (for HTTP, the full `/v1/traces` URL).
    pub endpoint: String,
    /// gRPC or HTTP.
    pub protocol: OtlpProtocol,
    /// `service.name`.
    pub service_name: String,
}

/// Reads the tracing settings from `env` (the process's variables) over `file` (the
/// configuration's `[tracing]`, or its defaults for `start-dev`). `None`: tracing is off.
pub fn export_from(env: impl Fn(&str) -> Option<String>, file: &TracingSection) -> Result<Option<Export>> {
    let var = |k: &str| env(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match var("OTEL_TRACES_EXPORTER").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => bail!("OTEL_TRACES_EXPORTER={other}: Endure exports traces with otlp only"),
    }
    let protocol =
        match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            None => file.otlp_protocol,
            Some(p) if p == "grpc" => OtlpProtocol::Grpc,
            Some(p) if p == "http/protobuf" => OtlpProtocol::HttpProtobuf,
            Some(p) => bail!("OTLP protocol {p:?}: Endure sends grpc or http/protobuf"),
        };
    let endpoint = if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        url
    } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|| Some(file.otlp_endpoint.trim().to_owned()).filter(|e| !e.is_empty()))
    {
        match protocol {
            OtlpProtocol::Grpc => base,
            OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
        }
    } else if var("OTEL_TRACES_EXPORTER").is_some() {
        // Asked for explicitly with no endpoint: the specification's defaults.
        match protocol {
            OtlpProtocol::Grpc => "http://localhost:4317".to_owned(),
            OtlpProtocol::HttpProtobuf => "http://localhost:4318/v1/traces".to_owned(),
        }
    } else {
        return Ok(None);
    };
    let service_name = var("OTEL_SERVICE_NAME").unwrap_or_else(|| file.service_name.clone());
    Ok(Some(Export { endpoint, protocol, service_name }))
}

/// What must be flushed before the process exits.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            eprintln!("flushing traces: {e}");
        }
    }
}

/// Installs the process's logging (`log_filter` decides which lines are written, as `format`)
/// and, if `export` is given, the span exporter (the server's spans at INFO, whatever the log
/// level). Call once, inside the tokio runtime.
pub fn init(log_filter: EnvFilter, format: LogFormat, export: Option<Export>) -> Result<Telemetry> {
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        // Log lines name the spans they are written in: the RPC or task, with its namespace,
        // workflow and run ids, and its trace and span ids while tracing is on.
        LogFormat::Json => {
            logs.json().flatten_event(true).with_current_span(true).with_span_list(true).boxed()
        }
        LogFormat::Text => logs.boxed(),
    };
    let Some(export) = export else {
        tracing_subscriber::registry()
            .with(logs.with_filter(log_filter))
            .try_init()
            .context("installing logging")?;
        return Ok(Telemetry { provider: None });
    };
    let exporter = match export.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(export.endpoint.clone())
            .build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(export.endpoint.clone())
            .build(),
    }
    .with_context(|| format!("the OTLP exporter for {}", export.endpoint))?;
    let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name(export.service_name.clone()).build())
        .build();
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("endure"))
        .with_filter(EnvFilter::new("off,endure_server=info"));
    tracing_subscriber::registry()
        .with(logs.with_filter(log_filter))
        .with(spans)
        .try_init()
        .context("installing logging and tracing")?;
    endure_server::telemetry::set_enabled(true);
    tracing::info!(endpoint = %export.endpoint, protocol = ?export.protocol, "exporting traces over OTLP");
    Ok(Telemetry { provider: Some(provider) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(vars: &[(&str, &str)], file: &TracingSection) -> Option<Export> {
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        export_from(env, file).expect("valid settings")
    }

    #[test]
    fn off_unless_an_endpoint_is_given_and_the_standard_variables_win() {
        let file = TracingSection::default();
        assert_eq!(export(&[], &file), None);
        let e = export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")], &file).expect("on");
        assert_eq!(
            (e.endpoint.as_str(), e.protocol, e.service_name.as_str()),
            ("http://c:4317", OtlpProtocol::Grpc, "endure")
        );
        let e = export(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ],
            &file,
        )
        .expect("on");
        assert_eq!(e.endpoint, "http://c:4318/v1/traces");
        let e = export(
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
            ],
            &file,
        )
        .expect("on");
        assert_eq!(e.endpoint, "http://t/x");
        let configured =
            TracingSection { otlp_endpoint: "http://f:4317".into(), ..TracingSection::default() };
        assert_eq!(export(&[], &configured).map(|e| e.endpoint), Some("http://f:4317".into()));
        let named = export(&[("OTEL_SERVICE_NAME", "svc")], &configured).expect("on");
        assert_eq!(named.service_name, "svc");
        for off in [("OTEL_TRACES_EXPORTER", "none"), ("OTEL_SDK_DISABLED", "true")] {
            assert_eq!(export(&[off, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c")], &file), None, "{off:?}");
        }
        assert!(
            export_from(|k| (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/json".into()), &configured)
                .is_err()
        );
    }
}
