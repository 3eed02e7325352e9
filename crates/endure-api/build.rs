//! Generates tonic *server* traits for WorkflowService, OperatorService and grpc.health.v1 from the
//! compiled descriptor set that the `temporalio-protos` crate exports. Message types are not
//! generated again: `extern_path` points every message at the crate's own types.

use prost::Message;
use std::{env, error::Error, fs};

const SERVICE_PACKAGES: &[&str] = &[
    "temporal.api.workflowservice.v1",
    "temporal.api.operatorservice.v1",
    "grpc.health.v1",
];

fn main() -> Result<(), Box<dyn Error>> {
    let path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not export DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")?;
    println!("cargo:rerun-if-changed={path}");
    println!("cargo:rerun-if-env-changed=DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH");
    let bytes = fs::read(&path)?;
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice())?;
    set.file
        .retain(|f| SERVICE_PACKAGES.contains(&f.package.as_deref().unwrap_or_default()));
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .generate_default_stubs(true)
        .extern_path(".temporal", "::temporalio_protos::temporal")
        .extern_path(".grpc", "::temporalio_protos::grpc")
        .extern_path(".google.rpc", "::temporalio_protos::google::rpc")
        .extern_path(".coresdk", "::temporalio_protos::coresdk")
        .compile_fds(set)?;
    Ok(())
}
