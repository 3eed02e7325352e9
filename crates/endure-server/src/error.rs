//! The one place that turns Endure errors into gRPC statuses with Temporal's error details.
//!
//! SDKs decode `grpc-status-details-bin` (a `google.rpc.Status` whose details hold
//! `temporal.api.errordetails.v1.*` messages) into typed exceptions, so every error that has a
//! Temporal detail type carries it.
//!
//! Storage errors are mapped here too, by their kind (never their message), and peers' statuses
//! are turned back into errors here. Nothing else in the crate makes a `tonic::Status`.

use endure_api::google::rpc::Status as RpcStatus;
use endure_api::temporal::api::errordetails::v1 as details;
use endure_api::temporal::api::failure::v1::Failure;
use endure_core::CoreError;
use endure_store::StoreError;
use prost::Message;
use tonic::{Code, Status};

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request.
    #[error("{0}")]
    InvalidArgument(String),
    /// A workflow, run, activity or task does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The namespace does not exist.
    #[error("Namespace {0} is not found.")]
    NamespaceNotFound(String),
    /// RegisterNamespace for an existing name.
    #[error("Namespace already exists.")]
    NamespaceAlreadyExists,
    /// A start conflicted with a running or closed run.
    #[error("{message}")]
    WorkflowAlreadyStarted {
        /// Explanation.
        message: String,
        /// Request id of the existing run's start.
        start_request_id: String,
        /// Existing run id.
        run_id: String,
        /// First run id of the existing run's chain.
        first_execution_run_id: String,
    },
    /// A standalone activity start conflicted with a running or closed activity of that id.
    #[error("{message}")]
    ActivityAlreadyStarted {
        /// Explanation.
        message: String,
        /// Request id of the existing activity's start.
        start_request_id: String,
        /// Existing run id.
        run_id: String,
    },
    /// The request conflicts with the current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The query handler failed on the worker.
    #[error("{message}")]
    QueryFailed {
        /// Error message from the worker.
        message: String,
        /// Failure from the worker, if it sent one.
        failure: Option<Box<Failure>>,
    },
    /// The call took longer than its deadline.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The workflow cannot take the operation now (it is closing); clients retry.
    #[error("{0}")]
    BusyWorkflow(String),
    /// The server is shutting down or otherwise unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// The run's history shard is held by another replica (or by none, during a takeover): the
    /// caller retries, and the frontend forwards to the owner.
    #[error("{0}")]
    ShardNotOwned(String),
    /// The RPC is not implemented.
    #[error("{0} is not implemented by Endure yet")]
    Unimplemented(&'static str),
    /// A service asked of grpc.health.v1 that this server does not serve.
    #[error("unknown service {0}")]
    UnknownService(String),
    /// An internal failure (storage, corruption).
    #[error("{0}")]
    Internal(String),
    /// A multi-operation request failed: one error per operation, in the request's order
    /// ([`ApiError::OperationAborted`] for those that did not fail themselves).
    #[error("{message}")]
    MultiOperation {
        /// Explanation of the whole.
        message: String,
        /// Each operation's error.
        errors: Vec<ApiError>,
    },
    /// The change would take the run's history over the error limits: the run was terminated
    /// instead (the change was not made).
    #[error("{0}")]
    HistoryLimitExceeded(String),
    /// Too many of something at once in a run (in-flight updates): retry later.
    #[error("{0}")]
    ConcurrentLimit(String),
    /// The caller may not do this (e.g. wait for an update only to be admitted).
    #[error("{0}")]
    PermissionDenied(String),
    /// An operation of a multi-operation request not carried out because another failed.
    #[error("Operation was aborted.")]
    OperationAborted,
}

impl ApiError {
    /// The real server's name for this error's type in metrics (`service_error_with_type`'s
    /// `error_type` label): Go's package and type, as `serviceerror_NotFound`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument(_) | ApiError::HistoryLimitExceeded(_) => {
                "serviceerror_InvalidArgument"
            }
            ApiError::NotFound(_) | ApiError::UnknownService(_) => "serviceerror_NotFound",
            ApiError::NamespaceNotFound(_) => "serviceerror_NamespaceNotFound",
            ApiError::NamespaceAlreadyExists => "serviceerror_NamespaceAlreadyExists",
            ApiError::WorkflowAlreadyStarted { .. } => "serviceerror_WorkflowExecutionAlreadyStarted",
            ApiError::ActivityAlreadyStarted { .. } => "serviceerror_ActivityExecutionAlreadyStarted",
            ApiError::FailedPrecondition(_) => "serviceerror_FailedPrecondition",
            ApiError::QueryFailed { .. } => "serviceerror_QueryFailed",
            ApiError::DeadlineExceeded(_) => "serviceerror_DeadlineExceeded",
            ApiError::BusyWorkflow(_) | ApiError::ConcurrentLimit(_) => "serviceerror_ResourceExhausted",
            ApiError::Unavailable(_) => "serviceerror_Unavailable",
            ApiError::ShardNotOwned(_) => "serviceerrors_ShardOwnershipLost",
            ApiError::Unimplemented(_) => "serviceerror_Unimplemented",
            ApiError::Internal(_) => "serviceerror_Internal",
            ApiError::PermissionDenied(_) => "serviceerror_PermissionDenied",
            ApiError::MultiOperation { .. } => "serviceerror_MultiOperationExecution",
            ApiError::OperationAborted => "serviceerror_MultiOperationAborted",
        }
    }
}

/// [`ApiError::type_name`] of a status another replica answered (a forwarded call), by code.
pub fn status_type_name(status: &Status) -> &'static str {
    match status.code() {
        Code::InvalidArgument => "serviceerror_InvalidArgument",
        Code::NotFound => "serviceerror_NotFound",
        Code::AlreadyExists => "serviceerror_AlreadyExists",
        Code::FailedPrecondition => "serviceerror_FailedPrecondition",
        Code::DeadlineExceeded => "serviceerror_DeadlineExceeded",
        Code::Cancelled => "serviceerror_Canceled",
        Code::ResourceExhausted => "serviceerror_ResourceExhausted",
        Code::Unavailable => "serviceerror_Unavailable",
        Code::Unimplemented => "serviceerror_Unimplemented",
        Code::PermissionDenied | Code::Unauthenticated => "serviceerror_PermissionDenied",
        Code::Aborted => "serviceerror_Aborted",
        Code::DataLoss => "serviceerror_DataLoss",
        Code::Ok | Code::Unknown | Code::OutOfRange => "serviceerror_Unknown",
        Code::Internal => "serviceerror_Internal",
    }
}

/// The name of a storage error's kind in metrics (`persistence_error_with_type`); `None` for
/// a not-found answer, which is an answer, not a failure.
pub fn store_error_type(e: &StoreError) -> Option<&'static str> {
    Some(match e {
        StoreError::NotFound { .. } => return None,
        StoreError::ShardOwnershipLost { .. } => "ShardOwnershipLostError",
        StoreError::Conflict { .. } => "ConditionFailedError",
        StoreError::Closed { .. } => "ClosedError",
        StoreError::Unavailable { .. } => "UnavailableError",
        StoreError::AlreadyExists { .. } => "AlreadyExistsError",
        StoreError::Corrupt { .. } => "CorruptError",
        StoreError::Backend { .. } => "InternalError",
    })
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidArgument(m) => ApiError::InvalidArgument(m),
            CoreError::NotFound(m) => ApiError::NotFound(m),
            CoreError::AlreadyCompleted => ApiError::NotFound("workflow execution already completed".into()),
            CoreError::FailedPrecondition(m) => ApiError::FailedPrecondition(m),
            CoreError::ConcurrentLimit(m) => ApiError::ConcurrentLimit(m),
        }
    }
}

/// The one mapping of storage errors, by kind (never by message): what may succeed later is
/// UNAVAILABLE (SDKs retry), a lost conditional write is UNAVAILABLE too (the caller's retry
/// reads the new state), a lost shard is [`ApiError::ShardNotOwned`], a missing thing is NOT_FOUND,
/// and the rest is INTERNAL. A create that collided is answered per operation by its caller
/// (a namespace name, a search attribute); anywhere else it is INTERNAL.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ShardOwnershipLost { context, .. } => ApiError::ShardNotOwned(context),
            StoreError::Conflict { context, .. } => {
                ApiError::Unavailable(format!("concurrent update, retry: {context}"))
            }
            StoreError::NotFound { context, .. } => ApiError::NotFound(context),
            StoreError::Closed { .. } => ApiError::Unavailable(format!("the server is stopping: {e}")),
            e if e.is_retryable() => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

fn detail<M: Message>(type_name: &str, detail: M) -> Vec<prost_wkt_types::Any> {
    vec![prost_wkt_types::Any {
        type_url: format!("type.googleapis.com/temporal.api.errordetails.v1.{type_name}"),
        value: detail.encode_to_vec(),
    }]
}

/// An error as a `google.rpc.Status`: code, message and Temporal's details.
fn rpc_status(e: ApiError) -> RpcStatus {
    let message = e.to_string();
    let (code, details) = match e {
        ApiError::InvalidArgument(_) | ApiError::HistoryLimitExceeded(_) => (Code::InvalidArgument, vec![]),
        ApiError::NotFound(_) => {
            (Code::NotFound, detail("NotFoundFailure", details::NotFoundFailure::default()))
        }
        ApiError::NamespaceNotFound(namespace) => (
            Code::NotFound,
            detail("NamespaceNotFoundFailure", details::NamespaceNotFoundFailure { namespace }),
        ),
        ApiError::NamespaceAlreadyExists => (
            Code::AlreadyExists,
            detail("NamespaceAlreadyExistsFailure", details::NamespaceAlreadyExistsFailure {}),
        ),
        ApiError::WorkflowAlreadyStarted { start_request_id, run_id, first_execution_run_id, .. } => (
            Code::AlreadyExists,
            detail(
                "WorkflowExecutionAlreadyStartedFailure",
                details::WorkflowExecutionAlreadyStartedFailure {
                    start_request_id,
                    run_id,
                    first_execution_run_id,
                },
            ),
        ),
        ApiError::ActivityAlreadyStarted { start_request_id, run_id, .. } => (
            Code::AlreadyExists,
            detail(
                "ActivityExecutionAlreadyStartedFailure",
                details::ActivityExecutionAlreadyStartedFailure { start_request_id, run_id },
            ),
        ),
        ApiError::FailedPrecondition(_) => (Code::FailedPrecondition, vec![]),
        ApiError::QueryFailed { failure, .. } => (
            Code::InvalidArgument,
            detail("QueryFailedFailure", details::QueryFailedFailure { failure: failure.map(|f| *f) }),
        ),
        ApiError::DeadlineExceeded(_) => (Code::DeadlineExceeded, vec![]),
        ApiError::BusyWorkflow(_) => (
            Code::ResourceExhausted,
            detail(
                "ResourceExhaustedFailure",
                details::ResourceExhaustedFailure {
                    cause: endure_api::temporal::api::enums::v1::ResourceExhaustedCause::BusyWorkflow as i32,
                    ..Default::default()
                },
            ),
        ),
        ApiError::Unavailable(_) | ApiError::ShardNotOwned(_) => (Code::Unavailable, vec![]),
        ApiError::Unimplemented(_) => (Code::Unimplemented, vec![]),
        ApiError::UnknownService(_) => (Code::NotFound, vec![]),
        ApiError::Internal(_) => (Code::Internal, vec![]),
        ApiError::ConcurrentLimit(_) => (
            Code::ResourceExhausted,
            detail(
                "ResourceExhaustedFailure",
                details::ResourceExhaustedFailure {
                    cause: endure_api::temporal::api::enums::v1::ResourceExhaustedCause::ConcurrentLimit
                        as i32,
                    scope: endure_api::temporal::api::enums::v1::ResourceExhaustedScope::Namespace as i32,
                },
            ),
        ),
        ApiError::PermissionDenied(_) => (
            Code::PermissionDenied,
            detail("PermissionDeniedFailure", details::PermissionDeniedFailure::default()),
        ),
        ApiError::MultiOperation { errors, .. } => {
            let statuses: Vec<_> = errors
                .into_iter()
                .map(|e| {
                    let s = rpc_status(e);
                    details::multi_operation_execution_failure::OperationStatus {
                        code: s.code,
                        message: s.message,
                        details: s.details,
                    }
                })
                .collect();
            // The whole answers with the code of the first operation that failed on its own.
            let code = statuses
                .iter()
                .map(|s| Code::from_i32(s.code))
                .find(|c| *c != Code::Aborted)
                .unwrap_or(Code::Aborted);
            (
                code,
                detail(
                    "MultiOperationExecutionFailure",
                    details::MultiOperationExecutionFailure { statuses },
                ),
            )
        }
        ApiError::OperationAborted => (
            Code::Aborted,
            vec![prost_wkt_types::Any {
                type_url: "type.googleapis.com/temporal.api.failure.v1.MultiOperationExecutionAborted".into(),
                value: endure_api::temporal::api::failure::v1::MultiOperationExecutionAborted {}
                    .encode_to_vec(),
            }],
        ),
    };
    RpcStatus { code: code as i32, message, details }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let rpc = rpc_status(e);
        let code = Code::from_i32(rpc.code);
        let message = rpc.message.clone();
        if rpc.details.is_empty() {
            Status::new(code, message)
        } else {
            Status::with_details(code, message, rpc.encode_to_vec().into())
        }
    }
}

impl ApiError {
    /// Another replica's answer as an error of ours, keeping what callers branch on: an
    /// unreachable or unwilling peer is [`ApiError::ShardNotOwned`] (retry; ownership moves).
    pub fn from_peer(s: Status) -> ApiError {
        let m = s.message().to_owned();
        match s.code() {
            Code::NotFound => ApiError::NotFound(m),
            Code::FailedPrecondition => ApiError::FailedPrecondition(m),
            Code::InvalidArgument => ApiError::InvalidArgument(m),
            Code::Unavailable | Code::Cancelled | Code::Unknown => {
                ApiError::ShardNotOwned(format!("peer: {m}"))
            }
            Code::DeadlineExceeded => ApiError::DeadlineExceeded(m),
            _ => ApiError::Internal(format!("peer: {m}")),
        }
    }
}

/// What the real server percent-encodes in `grpc-message`: `%` and bytes outside printable
/// ASCII (grpc-go's rule). tonic also encodes `?`, `#` and others, which grpc-js clients (the
/// TypeScript SDK) then show encoded ("pollers%3F").
const GRPC_MESSAGE_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// Re-encodes a response's `grpc-message` as the real server encodes it (a tower layer over the
/// gRPC services); the text a client decodes is unchanged.
pub fn grpc_message_as_go<B>(
    mut resp: tonic::codegen::http::Response<B>,
) -> tonic::codegen::http::Response<B> {
    let Some(v) = resp.headers().get("grpc-message").and_then(|v| v.to_str().ok()) else { return resp };
    let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
    let encoded = percent_encoding::utf8_percent_encode(&decoded, GRPC_MESSAGE_ESCAPES).to_string();
    if let Ok(h) = tonic::codegen::http::HeaderValue::from_str(&encoded) {
        resp.headers_mut().insert("grpc-message", h);
    }
    resp
}

/// Result alias for API handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The status a gRPC answer carries in its headers (a trailers-only answer) or its trailers, if
/// any: how the HTTP API reads the answer of the gRPC handler it called in process.
pub fn status_of_answer(
    headers: &tonic::codegen::http::HeaderMap,
    trailers: Option<&tonic::codegen::http::HeaderMap>,
) -> Option<tonic::Status> {
    tonic::Status::from_header_map(headers).or_else(|| trailers.and_then(tonic::Status::from_header_map))
}
