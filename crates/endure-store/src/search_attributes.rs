//! Each namespace's registry of custom search attributes: [`SearchAttributeStore`].

use crate::StoreResult;
use crate::visibility::SaType;
use async_trait::async_trait;

/// The custom search attributes registered in each namespace (name and type). Registering a
/// name also prepares the backend to filter on it (an index); removing it leaves the values
/// already stored in runs.
#[async_trait]
pub trait SearchAttributeStore: Send + Sync {
    /// The custom search attributes registered in a namespace, by name.
    async fn search_attributes(&self, namespace_id: &str) -> StoreResult<Vec<(String, SaType)>>;
    /// Registers custom search attributes in a namespace, all or none: a name already
    /// registered is [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists), whose
    /// context is `search attribute <name> already exists`.
    async fn add_search_attributes(
        &self,
        namespace_id: &str,
        attrs: Vec<(String, SaType)>,
    ) -> StoreResult<()>;
    /// Unregisters custom search attributes, all or none: a name not registered is
    /// [`StoreError::NotFound`](crate::StoreError::NotFound), whose context is
    /// `search attribute <name> does not exist`. Values already stored stay in the runs.
    async fn remove_search_attributes(&self, namespace_id: &str, names: Vec<String>) -> StoreResult<()>;
}
