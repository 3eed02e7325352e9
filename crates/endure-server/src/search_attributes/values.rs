//! The values of a run's search attributes: checking what a client or a workflow sets against
//! the namespace's registered types and Temporal's size limits, decoding payloads into typed
//! values for the visibility row, and presenting them as the API returns them.
//!
//! A leaf: the registered types come in as an argument ([`SaTypes`]); nothing here reads the
//! store or knows which namespace it is checking beyond its name for messages.

use super::schema::{SaType, settable_system, stored_system, system, type_name};
use endure_api::temporal::api::common::v1::{Payload, SearchAttributes};
use endure_store::visibility::SaValue;
use std::collections::BTreeMap;

/// A namespace's custom search attributes, by name.
pub type SaTypes = BTreeMap<String, SaType>;

/// Longest Keyword (or KeywordList element) value, in bytes.
pub const MAX_KEYWORD_BYTES: usize = 2048;

/// Checks search attributes a client or a workflow sets (at start, by upsert, on a child or a
/// continued run): every name registered (or a workflow-set system one), every value of its
/// type and within the size limits (`limits`: Temporal's, or the dynamic config's). A null
/// value (removal by upsert) is accepted when `allow_null`. The error message names the
/// attribute.
pub fn validate(
    namespace: &str,
    types: &SaTypes,
    sa: &SearchAttributes,
    allow_null: bool,
    limits: &endure_core::limits::Limits,
) -> Result<(), String> {
    let (max_keys, max_value, max_total) = (
        limits.search_attribute_keys,
        limits.search_attribute_value_bytes,
        limits.search_attribute_total_bytes,
    );
    if sa.indexed_fields.len() > max_keys {
        return Err(format!(
            "number of search attributes {} exceeds limit {max_keys}",
            sa.indexed_fields.len()
        ));
    }
    let total: usize = sa.indexed_fields.iter().map(|(k, p)| k.len() + p.data.len()).sum();
    if total > max_total {
        return Err(format!("total size of search attributes {total} exceeds size limit {max_total}"));
    }
    let mut names: Vec<&String> = sa.indexed_fields.keys().collect();
    names.sort();
    for name in names {
        let p = &sa.indexed_fields[name];
        let ty = match types.get(name) {
            Some(t) => *t,
            None => match settable_system(name) {
                Some(t) => t,
                None if system(name).is_some() => {
                    return Err(format!("{name} attribute can't be set in SearchAttributes"));
                }
                None => {
                    return Err(format!(
                        "Namespace {namespace} has no mapping defined for search attribute {name}"
                    ));
                }
            },
        };
        if allow_null && (p.data.is_empty() || p.data.as_slice() == b"null") {
            continue;
        }
        if p.data.len() > max_value {
            return Err(format!(
                "search attribute {name} value size {} exceeds size limit {max_value}",
                p.data.len()
            ));
        }
        let raw = String::from_utf8_lossy(&p.data);
        let shown = raw.trim_matches('"');
        let Some(value) = decode_value(p, ty) else {
            return Err(format!(
                "invalid value for search attribute {name} of type {}: {shown}",
                type_name(ty)
            ));
        };
        let too_long = match &value {
            SaValue::Str(s) => ty == SaType::Keyword && s.len() > MAX_KEYWORD_BYTES,
            SaValue::List(l) => l.iter().any(|s| s.len() > MAX_KEYWORD_BYTES),
            _ => false,
        };
        if too_long {
            return Err(format!(
                "search attribute {name} of type {} value exceeds the limit of {MAX_KEYWORD_BYTES} bytes",
                type_name(ty)
            ));
        }
    }
    Ok(())
}

/// Marks each registered (or workflow-set system) attribute's payload with its type
/// (`metadata["type"]`, and `encoding: json/plain` if it has none), as the real server stores
/// and returns them.
pub fn add_types(types: &SaTypes, sa: &mut SearchAttributes) {
    for (name, p) in sa.indexed_fields.iter_mut() {
        let Some(ty) = types.get(name).copied().or_else(|| stored_system(name)) else {
            continue;
        };
        p.metadata.insert("type".into(), type_name(ty).as_bytes().to_vec());
        p.metadata.entry("encoding".into()).or_insert_with(|| b"json/plain".to_vec());
    }
}

/// A run's search attributes as the API returns them: each registered (or workflow-set
/// system) attribute's payload carries its type in `metadata["type"]`, and Datetime values are
/// written in UTC (`2024-03-01T12:00:00Z`), as the real server returns them.
pub fn present(types: &SaTypes, sa: &SearchAttributes) -> SearchAttributes {
    let mut out = sa.clone();
    add_types(types, &mut out);
    for (name, p) in out.indexed_fields.iter_mut() {
        let Some(ty) = types.get(name).copied().or_else(|| stored_system(name)) else {
            continue;
        };
        if ty == SaType::Datetime
            && let Some(SaValue::Int(ns)) = decode_value(p, ty)
        {
            let utc = chrono::DateTime::from_timestamp_nanos(ns);
            let text = utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            p.data = serde_json::to_vec(&text).unwrap_or_else(|_| p.data.clone());
        }
    }
    out
}

/// Decodes a search-attribute payload (JSON) as `ty`; `None` if it is not one (or is null).
pub fn decode_value(p: &Payload, ty: SaType) -> Option<SaValue> {
    decode_json(serde_json::from_slice(&p.data).ok()?, ty)
}

fn decode_json(v: serde_json::Value, ty: SaType) -> Option<SaValue> {
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
        // The SDKs' older encoding wraps every value in a list (the TypeScript SDK's
        // `upsertSearchAttributes`): a one-element list counts as its element, as the real
        // server accepts it.
        (_, serde_json::Value::Array(mut items)) if items.len() == 1 && !items[0].is_array() => {
            return decode_json(items.pop()?, ty);
        }
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
    fn a_one_element_list_counts_as_its_element() {
        assert_eq!(decode_value(&json("[\"gold\"]"), SaType::Keyword), Some(SaValue::Str("gold".into())));
        assert_eq!(decode_value(&json("[5]"), SaType::Int), Some(SaValue::Int(5)));
        assert_eq!(
            decode_value(&json("[\"a\", \"b\"]"), SaType::Keyword),
            None,
            "two values for one keyword"
        );
        assert_eq!(decode_value(&json("[[\"a\"]]"), SaType::Keyword), None, "one level only");
    }

    #[test]
    fn presented_values_carry_their_type_and_utc_times() {
        let types: SaTypes = [("Due".to_string(), SaType::Datetime), ("N".to_string(), SaType::Int)].into();
        let mut sa = SearchAttributes::default();
        sa.indexed_fields.insert("Due".into(), json("\"2024-03-01T13:00:00+01:00\""));
        sa.indexed_fields.insert("N".into(), json("5"));
        sa.indexed_fields.insert("Unregistered".into(), json("1"));
        let out = present(&types, &sa);
        assert_eq!(out.indexed_fields["Due"].data, b"\"2024-03-01T12:00:00Z\"");
        assert_eq!(out.indexed_fields["Due"].metadata["type"], b"Datetime");
        assert_eq!(out.indexed_fields["N"].metadata["type"], b"Int");
        assert!(!out.indexed_fields["Unregistered"].metadata.contains_key("type"));
    }

    #[test]
    fn validation_names_the_attribute_and_the_limit() {
        let types: SaTypes = [
            ("Customer".to_string(), SaType::Keyword),
            ("Notes".to_string(), SaType::Text),
            ("N".to_string(), SaType::Int),
        ]
        .into();
        let with = |fields: Vec<(&str, Payload)>| SearchAttributes {
            indexed_fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        };
        let limits = endure_core::limits::Limits::default();
        let check = |sa: &SearchAttributes| validate("default", &types, sa, false, &limits);
        assert_eq!(check(&with(vec![("Customer", json("\"a\"")), ("N", json("1"))])), Ok(()));
        let err = check(&with(vec![("Nope", json("1"))])).unwrap_err();
        assert!(err.contains("no mapping defined for search attribute Nope"), "{err}");
        let err = check(&with(vec![("WorkflowId", json("\"x\""))])).unwrap_err();
        assert!(err.contains("WorkflowId attribute can't be set"), "{err}");
        let err = check(&with(vec![("N", json("\"5\""))])).unwrap_err();
        assert!(err.contains("invalid value for search attribute N of type Int: 5"), "{err}");
        let long = format!("\"{}\"", "x".repeat(2100));
        let err = check(&with(vec![("Notes", json(&long))])).unwrap_err();
        assert!(err.contains("search attribute Notes value size 2102 exceeds size limit 2048"), "{err}");
        assert_eq!(validate("default", &types, &with(vec![("Notes", json("null"))]), true, &limits), Ok(()));
        let many: Vec<(String, Payload)> = (0..101).map(|i| (format!("K{i}"), json("1"))).collect();
        let sa = SearchAttributes { indexed_fields: many.into_iter().collect() };
        assert!(check(&sa).unwrap_err().contains("exceeds limit 100"));
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
