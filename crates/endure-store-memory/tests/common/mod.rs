//! Helpers shared by the integration tests.

use endure_store::{RunKey, WriteBatch};

/// A batch creating `k` (no expected version) that writes nothing else.
pub fn bare_batch(k: &RunKey) -> WriteBatch {
    WriteBatch {
        run: k.clone(),
        fence: None,
        state: vec![],
        expected_version: None,
        current: None,
        events: vec![],
        new_tasks: vec![],
        delete_tasks: vec![],
        visibility: None,
    }
}
