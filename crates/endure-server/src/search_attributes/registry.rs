//! The registry of each namespace's custom search attributes: registered names and types, kept
//! in memory and persisted in the store, and the typed values of a run's attributes for its
//! visibility row.

use super::schema::{SaType, stored_system};
use super::values::{SaTypes, decode_value};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::common::v1::SearchAttributes;
use endure_store::visibility::SaValue;
use endure_store::{SearchAttributeStore, StoreError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The registry of every namespace's custom search attributes.
pub struct SearchAttributeRegistry {
    store: Arc<dyn SearchAttributeStore>,
    by_namespace: RwLock<HashMap<String, (Arc<SaTypes>, Instant)>>,
    /// How long a namespace's loaded attributes are trusted (`None`: forever — the only
    /// process on its store). In a cluster another replica may have added or removed some.
    max_age: RwLock<Option<Duration>>,
}

impl SearchAttributeRegistry {
    /// An empty registry over `store`; [`SearchAttributeRegistry::load`] fills it.
    pub fn new(store: Arc<dyn SearchAttributeStore>) -> Arc<Self> {
        Arc::new(SearchAttributeRegistry {
            store,
            by_namespace: RwLock::new(HashMap::new()),
            max_age: RwLock::new(None),
        })
    }

    /// Re-reads a namespace's attributes once they are older than `age` (replicas sharing a
    /// store).
    pub fn set_max_age(&self, age: Duration) {
        *self.max_age.write() = Some(age);
    }

    /// Loads the attributes of a namespace from the store (at start-up and on first use).
    pub async fn load(&self, namespace_id: &str) -> ApiResult<Arc<SaTypes>> {
        let types: SaTypes = self.store.search_attributes(namespace_id).await?.into_iter().collect();
        let types = Arc::new(types);
        self.by_namespace.write().insert(namespace_id.to_owned(), (types.clone(), clock::monotonic()));
        Ok(types)
    }

    /// The attributes of a namespace, loading them if needed.
    pub async fn of(&self, namespace_id: &str) -> ApiResult<Arc<SaTypes>> {
        if let Some((t, at)) = self.by_namespace.read().get(namespace_id)
            && self.max_age.read().is_none_or(|age| clock::monotonic().saturating_duration_since(*at) < age)
        {
            return Ok(t.clone());
        }
        self.load(namespace_id).await
    }

    /// The attributes of a namespace as loaded (empty if never loaded: every namespace is loaded
    /// at start-up or creation, before any of its runs is written).
    pub fn cached(&self, namespace_id: &str) -> Arc<SaTypes> {
        self.by_namespace.read().get(namespace_id).map(|(t, _)| t.clone()).unwrap_or_default()
    }

    /// Registers attributes; an existing name is AlreadyExists and nothing is added.
    pub async fn add(&self, namespace_id: &str, attrs: Vec<(String, SaType)>) -> ApiResult<()> {
        match self.store.add_search_attributes(namespace_id, attrs).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { context, .. }) => return Err(ApiError::InvalidArgument(context)),
            Err(e) => return Err(e.into()),
        }
        self.load(namespace_id).await.map(|_| ())
    }

    /// Unregisters attributes; a missing name is NotFound and nothing is removed.
    pub async fn remove(&self, namespace_id: &str, names: Vec<String>) -> ApiResult<()> {
        match self.store.remove_search_attributes(namespace_id, names).await {
            Ok(()) => {}
            Err(StoreError::NotFound { context, .. }) => return Err(ApiError::NotFound(context)),
            Err(e) => return Err(e.into()),
        }
        self.load(namespace_id).await.map(|_| ())
    }

    /// The typed values of a run's registered (and workflow-set system) attributes, for its
    /// visibility row. Values that do not decode as their type are left out.
    pub fn typed_values(&self, namespace_id: &str, sa: Option<&SearchAttributes>) -> Vec<(String, SaValue)> {
        let Some(sa) = sa.filter(|s| !s.indexed_fields.is_empty()) else { return Vec::new() };
        let types = self.cached(namespace_id);
        let mut out: Vec<(String, SaValue)> = sa
            .indexed_fields
            .iter()
            .filter_map(|(name, payload)| {
                let ty = types.get(name).copied().or_else(|| stored_system(name))?;
                Some((name.clone(), decode_value(payload, ty)?))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
