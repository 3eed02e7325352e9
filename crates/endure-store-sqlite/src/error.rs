//! The mapping of driver errors to [`StoreError`].

use endure_store::StoreError;

/// Any error as [`StoreError::Backend`].
pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}
