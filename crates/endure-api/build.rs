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
    http_descriptor_set()?;
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

/// The `.proto` files of the services the HTTP API serves, and of the messages its errors carry,
/// in the `temporalio-protos` crate's package.
const HTTP_PROTOS: &[&str] = &[
    "api_upstream/temporal/api/workflowservice/v1/service.proto",
    "api_upstream/temporal/api/operatorservice/v1/service.proto",
    "api_upstream/temporal/api/errordetails/v1/message.proto",
    "google/rpc/status.proto",
];

/// Writes `http_descriptors.bin` (`endure_api::DESCRIPTOR_SET`): the API's descriptors with
/// their options, `google.api.http` annotations included. The set `temporalio-protos` exports
/// went through `prost_types`, which drops extension options, so the routes are not in it; this
/// compiles the crate's own `.proto` files again with protox, keeping every option.
fn http_descriptor_set() -> Result<(), Box<dyn Error>> {
    let root = protos_dir()?;
    println!("cargo:rerun-if-changed={}", root.display());
    let includes = ["api_upstream", "local", "grpc", ""].map(|d| root.join(d));
    let mut compiler = protox::Compiler::new(includes.iter().filter(|p| p.is_dir()))?;
    compiler.include_imports(true).include_source_info(false);
    for file in HTTP_PROTOS {
        compiler.open_file(root.join(file))?;
    }
    let out = std::path::PathBuf::from(env::var("OUT_DIR")?).join("http_descriptors.bin");
    fs::write(out, compiler.encode_file_descriptor_set())?;
    Ok(())
}

/// The `protos/` folder of the `temporalio-protos` package this build uses, as `cargo metadata`
/// locates it (registry, vendored or path sources alike).
fn protos_dir() -> Result<std::path::PathBuf, Box<dyn Error>> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = std::path::PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
        .arg(&manifest)
        .output()?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let packages = metadata["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let manifest_path = packages
        .iter()
        .find(|p| p["name"] == "temporalio-protos")
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or("cargo metadata: no temporalio-protos package")?;
    let dir = std::path::Path::new(manifest_path).parent().ok_or("temporalio-protos: no package folder")?;
    Ok(dir.join("protos"))
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
