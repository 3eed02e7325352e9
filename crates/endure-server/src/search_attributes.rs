//! Custom search attributes: each namespace's registered names and types (kept in memory,
//! persisted in the store) and the typed values of a run's attributes for its visibility row.

use crate::error::{ApiError, ApiResult};
use endure_api::temporal::api::common::v1::{Payload, SearchAttributes};
use endure_store::visibility::{SaType, SaValue};
use endure_store::{Store, StoreError};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A namespace's custom search attributes, by name.
pub type SaTypes = BTreeMap<String, SaType>;

/// System attributes that workflows set themselves (by upsert) and that are stored and queried
/// like custom ones.
pub const WORKFLOW_SET_SYSTEM: &[(&str, SaType)] = &[("TemporalChangeVersion", SaType::KeywordList)];

/// The registry of every namespace's custom search attributes.
pub struct SearchAttributeRegistry {
    store: Arc<dyn Store>,
    by_namespace: RwLock<HashMap<String, Arc<SaTypes>>>,
}

impl SearchAttributeRegistry {
    /// An empty registry over `store`; [`SearchAttributeRegistry::load`] fills it.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(SearchAttributeRegistry { store, by_namespace: RwLock::new(HashMap::new()) })
    }

    /// Loads the attributes of a namespace from the store (at start-up and on first use).
    pub async fn load(&self, namespace_id: &str) -> ApiResult<Arc<SaTypes>> {
        let types: SaTypes = self.store.search_attributes(namespace_id).await?.into_iter().collect();
        let types = Arc::new(types);
        self.by_namespace.write().insert(namespace_id.to_owned(), types.clone());
        Ok(types)
    }

    /// The attributes of a namespace, loading them if needed.
    pub async fn of(&self, namespace_id: &str) -> ApiResult<Arc<SaTypes>> {
        if let Some(t) = self.by_namespace.read().get(namespace_id) {
            return Ok(t.clone());
        }
        self.load(namespace_id).await
    }

    /// The attributes of a namespace as loaded (empty if never loaded: every namespace is loaded
    /// at start-up or creation, before any of its runs is written).
    pub fn cached(&self, namespace_id: &str) -> Arc<SaTypes> {
        self.by_namespace.read().get(namespace_id).cloned().unwrap_or_default()
    }

    /// Registers attributes; an existing name is AlreadyExists and nothing is added.
    pub async fn add(&self, namespace_id: &str, attrs: Vec<(String, SaType)>) -> ApiResult<()> {
        match self.store.add_search_attributes(namespace_id, attrs).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(m)) => return Err(ApiError::InvalidArgument(m)),
            Err(e) => return Err(e.into()),
        }
        self.load(namespace_id).await.map(|_| ())
    }

    /// Unregisters attributes; a missing name is NotFound and nothing is removed.
    pub async fn remove(&self, namespace_id: &str, names: Vec<String>) -> ApiResult<()> {
        match self.store.remove_search_attributes(namespace_id, names).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(m)) => return Err(ApiError::NotFound(m)),
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
                let ty = types
                    .get(name)
                    .copied()
                    .or_else(|| WORKFLOW_SET_SYSTEM.iter().find(|(n, _)| n == name).map(|(_, t)| *t))?;
                Some((name.clone(), decode_value(payload, ty)?))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Decodes a search-attribute payload (JSON) as `ty`; `None` if it is not one (or is null).
pub fn decode_value(p: &Payload, ty: SaType) -> Option<SaValue> {
    let v: serde_json::Value = serde_json::from_slice(&p.data).ok()?;
    Some(match (ty, v) {
        (SaType::Keyword | SaType::Text, serde_json::Value::String(s)) => SaValue::Str(s),
        (SaType::Int, serde_json::Value::Number(n)) => SaValue::Int(n.as_i64()?),
        (SaType::Double, serde_json::Value::Number(n)) => SaValue::Float(n.as_f64()?),
        (SaType::Bool, serde_json::Value::Bool(b)) => SaValue::Int(b as i64),
        (SaType::Datetime, serde_json::Value::String(s)) => {
            SaValue::Int(chrono::DateTime::parse_from_rfc3339(&s).ok()?.timestamp_nanos_opt()?)
        }
        (SaType::KeywordList, serde_json::Value::Array(items)) => {
            SaValue::List(items.into_iter().map(|i| i.as_str().map(String::from)).collect::<Option<_>>()?)
        }
        // A single keyword given for a list attribute counts as a one-element list.
        (SaType::KeywordList, serde_json::Value::String(s)) => SaValue::List(vec![s]),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(data: &str) -> Payload {
        Payload { data: data.as_bytes().to_vec(), ..Default::default() }
    }

    #[test]
    fn payloads_decode_as_their_type() {
        assert_eq!(decode_value(&json("\"a\""), SaType::Keyword), Some(SaValue::Str("a".into())));
        assert_eq!(decode_value(&json("7"), SaType::Int), Some(SaValue::Int(7)));
        assert_eq!(decode_value(&json("7.5"), SaType::Int), None);
        assert_eq!(decode_value(&json("7"), SaType::Double), Some(SaValue::Float(7.0)));
        assert_eq!(decode_value(&json("true"), SaType::Bool), Some(SaValue::Int(1)));
        assert_eq!(
            decode_value(&json("\"1970-01-01T00:00:01Z\""), SaType::Datetime),
            Some(SaValue::Int(1_000_000_000))
        );
        assert_eq!(
            decode_value(&json("[\"x\",\"y\"]"), SaType::KeywordList),
            Some(SaValue::List(vec!["x".into(), "y".into()]))
        );
        assert_eq!(decode_value(&json("[1]"), SaType::KeywordList), None);
        assert_eq!(decode_value(&json("null"), SaType::Keyword), None);
        assert_eq!(decode_value(&json("not json"), SaType::Keyword), None);
    }
}
