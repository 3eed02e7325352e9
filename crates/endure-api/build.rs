//! Generates tonic server traits (and clients, used to forward RPCs between replicas) for
//! WorkflowService, OperatorService and grpc.health.v1 from the compiled descriptor set that the
//! `temporalio-protos` crate exports. Message types are not generated again: `extern_path`
//! points every message at the crate's own types.

use prost::Message;
use std::{env, error::Error, fs};

const SERVICE_PACKAGES: &[&str] =
    &["temporal.api.workflowservice.v1", "temporal.api.operatorservice.v1", "grpc.health.v1"];

fn main() -> Result<(), Box<dyn Error>> {
    let path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not export DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")?;
    println!("cargo:rerun-if-changed={path}");
    println!("cargo:rerun-if-env-changed=DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH");
    let bytes = fs::read(&path)?;
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    set.file.retain(|f| SERVICE_PACKAGES.contains(&f.package.as_deref().unwrap_or_default()));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".grpc", "::temporalio_protos::grpc")
        .extern_path(".google.rpc", "::temporalio_protos::google::rpc")
        .extern_path(".coresdk", "::temporalio_protos::coresdk")
        .compile_fds(set)?;
    name_unimplemented_rpcs()?;
    internal_service();
    Ok(())
}

/// The replica-to-replica service `endure.internal.v1.Cluster`, defined here rather than in a
/// `.proto` file: its messages are the Temporal ones and [`Json`](crate::internal::Json) bodies.
fn internal_service() {
    use tonic_build::manual::{Builder, Method, Service};
    let method = |name: &str, route: &str, output: &str| {
        Method::builder()
            .name(name)
            .route_name(route)
            .input_type("crate::internal::Json")
            .output_type(output)
            .codec_path("tonic_prost::ProstCodec")
            .build()
    };
    let ws = "::temporalio_protos::temporal::api::workflowservice::v1";
    let service = Service::builder()
        .name("Cluster")
        .package("endure.internal.v1")
        .method(method("add_task", "AddTask", "crate::internal::Json"))
        .method(method(
            "start_workflow_task",
            "StartWorkflowTask",
            &format!("{ws}::PollWorkflowTaskQueueResponse"),
        ))
        .method(method(
            "start_activity_task",
            "StartActivityTask",
            &format!("{ws}::PollActivityTaskQueueResponse"),
        ))
        .method(method("cross_step", "CrossStep", "crate::internal::Json"))
        .method(method("register_version", "RegisterVersion", "crate::internal::Json"))
        .method(method("apply_route", "ApplyRoute", "crate::internal::Json"))
        .build();
    Builder::new().compile(&[service]);
}

/// The generated default stubs answer UNIMPLEMENTED with a generic text; make each one name its
/// RPC (e.g. "WorkflowService/PauseActivity is not implemented by Endure") so users can tell
/// what is missing.
fn name_unimplemented_rpcs() -> Result<(), Box<dyn Error>> {
    let out = std::path::PathBuf::from(env::var("OUT_DIR")?);
    for (file, service) in [
        ("temporal.api.workflowservice.v1.rs", "WorkflowService"),
        ("temporal.api.operatorservice.v1.rs", "OperatorService"),
        ("grpc.health.v1.rs", "Health"),
    ] {
        let path = out.join(file);
        let src = fs::read_to_string(&path)?;
        let mut result = String::with_capacity(src.len() + 4096);
        let mut current_fn = String::new();
        for line in src.lines() {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("async fn ") {
                current_fn = rest.split('(').next().unwrap_or_default().to_string();
            }
            if trimmed.contains("tonic::Status::unimplemented(\"Not yet implemented\")") {
                let camel: String = current_fn
                    .split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
                    })
                    .collect();
                let msg = format!("{service}/{camel} is not implemented by Endure");
                result.push_str(&line.replace("Not yet implemented", &msg));
            } else {
                result.push_str(line);
            }
            result.push('\n');
        }
        fs::write(&path, result)?;
    }
    Ok(())
}
