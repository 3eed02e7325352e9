//! Task tokens: the opaque bytes a worker echoes back to complete a workflow, activity or query
//! task. They name the run and the exact task attempt so stale completions are rejected.

use crate::CoreError;
use serde::{Deserialize, Serialize};

/// What kind of task a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A workflow task.
    Workflow,
    /// An activity task.
    Activity,
    /// A query task.
    Query,
}

/// Decoded task token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskToken {
    /// Token kind.
    pub kind: TokenKind,
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// Scheduled event id (activities) or 0.
    #[serde(default)]
    pub scheduled_event_id: i64,
    /// Attempt of the task.
    #[serde(default)]
    pub attempt: i32,
    /// Workflow task stamp (workflow tokens) or 0.
    #[serde(default)]
    pub stamp: i64,
    /// Activity id (activity tokens).
    #[serde(default)]
    pub activity_id: String,
    /// Query id (query tokens).
    #[serde(default)]
    pub query_id: String,
}

impl TaskToken {
    /// Encodes the token into the bytes handed to a worker.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes token bytes from a worker; malformed bytes are an InvalidArgument.
    pub fn decode(bytes: &[u8]) -> Result<Self, CoreError> {
        if bytes.is_empty() {
            return Err(CoreError::InvalidArgument("Task token not set on request.".into()));
        }
        serde_json::from_slice(bytes)
            .map_err(|_| CoreError::InvalidArgument("Error deserializing task token.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let t = TaskToken {
            kind: TokenKind::Activity,
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "run".into(),
            scheduled_event_id: 5,
            attempt: 2,
            stamp: 0,
            activity_id: "1".into(),
            query_id: String::new(),
        };
        assert_eq!(TaskToken::decode(&t.encode()).unwrap(), t);
        assert!(matches!(TaskToken::decode(b"\x00garbage"), Err(CoreError::InvalidArgument(_))));
        assert!(matches!(TaskToken::decode(b""), Err(CoreError::InvalidArgument(_))));
    }
}
