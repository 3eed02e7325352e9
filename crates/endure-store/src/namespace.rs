//! Namespaces: their rows and [`NamespaceStore`].

use crate::StoreResult;
use async_trait::async_trait;

/// A namespace row. `data` is the serialized namespace description owned by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRow {
    /// Namespace id (a UUID string).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Serialized description/config.
    pub data: Vec<u8>,
}

/// Namespaces: created once, unique by name and by id, their data replaced by updates.
#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Creates a namespace; [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists) if
    /// the name or id is taken.
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()>;
    /// Replaces a namespace's name and data (by id);
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) if no namespace has that id.
    async fn update_namespace(&self, ns: NamespaceRow) -> StoreResult<()>;
    /// Looks a namespace up by name.
    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>>;
    /// Looks a namespace up by id.
    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>>;
    /// Lists all namespaces ordered by name.
    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>>;
}
