//! Errors a transition can return. The server maps each to a gRPC status in one place.

/// Why a request could not be applied to a workflow run. Nothing is written when a transition
/// returns an error.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CoreError {
    /// The request is malformed (gRPC InvalidArgument).
    #[error("{0}")]
    InvalidArgument(String),
    /// The referenced entity (activity, workflow task, run) does not exist or is no longer
    /// current (gRPC NotFound).
    #[error("{0}")]
    NotFound(String),
    /// The run is closed (gRPC NotFound with "workflow execution already completed").
    #[error("workflow execution already completed")]
    AlreadyCompleted,
    /// The request conflicts with the run's state (gRPC FailedPrecondition).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Too many of something at once (in-flight updates): the caller may retry later.
    #[error("{0}")]
    ConcurrentLimit(String),
}
