//! The errors this store makes itself: a closed handle's, and the ones standing for injected
//! faults. Every other error comes from the same conditions as in the SQL backends, of the same
//! [`StoreError`] kind.

use crate::faults::InjectedFault;
use endure_store::StoreError;

/// A call on a closed handle.
pub(crate) fn closed(operation: &str) -> StoreError {
    StoreError::closed(format!("{operation} on a closed in-memory store"))
}

/// An injected time-out (`applied: false`) or lost answer (`applied: true`): shown as
/// `storage unavailable: injected fault: commit was carried out, its answer lost`.
pub(crate) fn injected(operation: &'static str, applied: bool) -> StoreError {
    StoreError::unavailable("injected fault", InjectedFault { operation, applied })
}
