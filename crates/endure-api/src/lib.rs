//! The Temporal wire API as Endure serves it.
//!
//! Message types are re-exported from the `temporalio-protos` crate; the tonic server traits for
//! the three services Endure implements are generated in `build.rs` from that crate's descriptor
//! set, so no `.proto` file lives in this repository.

#![warn(missing_docs)]

pub use prost;
pub use prost_wkt_types as wkt;
pub use temporalio_protos::{google, grpc, temporal};

/// The compiled descriptors of WorkflowService, OperatorService and the error details, with
/// every file they import and every option (`google.api.http` annotations included), compiled in
/// `build.rs` from the `temporalio-protos` package's `.proto` files: the HTTP API's routes and
/// JSON mapping are derived from them at run time.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/http_descriptors.bin"));

/// Generated server side of `temporal.api.workflowservice.v1.WorkflowService`.
pub mod workflowservice {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("temporal.api.workflowservice.v1");
}

/// Generated server side of `temporal.api.operatorservice.v1.OperatorService`.
pub mod operatorservice {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("temporal.api.operatorservice.v1");
}

/// Generated server side of `grpc.health.v1.Health`.
pub mod health {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("grpc.health.v1");
}

/// The replica-to-replica API (`endure.internal.v1.Cluster`): task hand-off to a task queue's
/// owner, starting a task on its workflow's owner, and the target-side steps of cross-workflow
/// tasks. Not part of Temporal's API; only replicas of one cluster call it.
pub mod internal {
    /// A JSON-encoded request or response body (the server defines the shapes).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Json {
        /// UTF-8 JSON.
        #[prost(bytes = "vec", tag = "1")]
        pub body: Vec<u8>,
    }

    /// Generated client and server of `endure.internal.v1.Cluster`.
    pub mod cluster {
        #![allow(missing_docs, clippy::all)]
        include!(concat!(env!("OUT_DIR"), "/endure.internal.v1.Cluster.rs"));
    }
}
