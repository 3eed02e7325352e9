//! Temporal's JSON mapping of API messages, as the real server's HTTP API writes and reads it:
//! proto3 JSON (camelCase names, enums by name, 64-bit integers as strings, fields in
//! declaration order, map keys sorted) plus the **payload shorthand**, on by default and off with
//! `?noPayloadShorthand`:
//!
//! - a `Payload` whose only metadata is `encoding: json/plain` is written as its JSON value; one
//!   with `encoding: json/protobuf` and a `messageType` (and nothing else) as its JSON object
//!   with a `_protoMessageType` key; `binary/null` (and a `json/plain` `null`) as the canonical
//!   object `{"metadata":{"encoding":"YmluYXJ5L251bGw="}}`; anything else (a codec's
//!   `binary/encrypted`, extra metadata) in canonical form;
//! - a `Payloads` is written as an array of those values when every payload has a shorthand,
//!   else wholly in canonical form (`{"payloads":[…]}`);
//! - on input, any JSON value is a `json/plain` payload, `null` a `binary/null` one, an object
//!   with `_protoMessageType` a `json/protobuf` one, and a canonical payload object stays one; a
//!   `Payloads` may be an array of such values, `null` (none) or its canonical object.
//!
//! The generic proto3 mapping is prost-reflect's; this module walks the message descriptors next
//! to the JSON to apply the shorthand and the real server's field order. It knows nothing of
//! routes or of how a call is made.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, SerializeOptions,
};
use serde_json::{Map, Value};

const PAYLOAD: &str = "temporal.api.common.v1.Payload";
const PAYLOADS: &str = "temporal.api.common.v1.Payloads";
const ANY: &str = "google.protobuf.Any";
const PROTO_TYPE_KEY: &str = "_protoMessageType";

/// Why a JSON request could not be read into its message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

/// How one request is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Payload shorthand (the default) or canonical payloads (`?noPayloadShorthand`).
    pub canonical_payloads: bool,
    /// Indented output (`?pretty`).
    pub pretty: bool,
}

// ------------------------------------------------------------------------------------------
// Output: message -> JSON text

/// `msg` as JSON text in `style`.
pub fn write(pool: &DescriptorPool, msg: &DynamicMessage, style: Style) -> Result<String, JsonError> {
    let shaped = shape(pool, msg, style)?;
    let mut out = String::new();
    emit(&shaped, style.pretty, 0, &mut out);
    Ok(out)
}

/// `msg` as JSON in `style`, not yet written out.
pub fn shape(pool: &DescriptorPool, msg: &DynamicMessage, style: Style) -> Result<Shaped, JsonError> {
    let opts = SerializeOptions::new().stringify_64_bit_integers(true).skip_default_fields(true);
    let value = msg
        .serialize_with_options(serde_json::value::Serializer, &opts)
        .map_err(|e| JsonError(format!("rendering {}: {e}", msg.descriptor().full_name())))?;
    Ok(shape_message(pool, &msg.descriptor(), value, style))
}

/// JSON with object keys in a chosen order (serde_json's map sorts them).
#[derive(Debug)]
pub enum Shaped {
    /// A scalar, or a value whose keys are meant to be sorted (maps, shorthand payloads).
    Plain(Value),
    /// An object, keys in this order.
    Object(Vec<(String, Shaped)>),
    /// An array.
    Array(Vec<Shaped>),
}

fn shape_message(pool: &DescriptorPool, desc: &MessageDescriptor, value: Value, style: Style) -> Shaped {
    match desc.full_name() {
        PAYLOAD if !style.canonical_payloads => {
            return shorthand_payload(&value).unwrap_or_else(|| shape_fields(pool, desc, value, style));
        }
        PAYLOADS if !style.canonical_payloads => {
            let list = value.get("payloads").and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(items) = list.iter().map(shorthand_payload).collect::<Option<Vec<Shaped>>>() {
                return Shaped::Array(items);
            }
            // Not all have a shorthand: the canonical `{"payloads": […]}`, whose payloads still
            // take theirs where they have one.
        }
        ANY => return shape_any(pool, value, style),
        name if name.starts_with("google.protobuf.") => return Shaped::Plain(value),
        _ => {}
    }
    shape_fields(pool, desc, value, style)
}

/// A message's fields in the order the `.proto` file declares them (the real server's order;
/// prost-reflect lists them by number).
fn shape_fields(pool: &DescriptorPool, desc: &MessageDescriptor, value: Value, style: Style) -> Shaped {
    let Value::Object(mut obj) = value else { return Shaped::Plain(value) };
    let mut fields = Vec::with_capacity(obj.len());
    for proto in &desc.descriptor_proto().field {
        let Some(field) = desc.get_field_by_name(proto.name()) else { continue };
        if let Some(v) = obj.remove(field.json_name()) {
            fields.push((field.json_name().to_string(), shape_field(pool, &field, v, style)));
        }
    }
    // Nothing should be left; keep whatever is, rather than drop data.
    fields.extend(obj.into_iter().map(|(k, v)| (k, Shaped::Plain(v))));
    Shaped::Object(fields)
}

fn shape_field(pool: &DescriptorPool, field: &FieldDescriptor, value: Value, style: Style) -> Shaped {
    let Kind::Message(m) = field.kind() else { return Shaped::Plain(value) };
    if field.is_map() {
        let value_kind = m.map_entry_value_field().kind();
        let Kind::Message(vm) = value_kind else { return Shaped::Plain(value) };
        let Value::Object(obj) = value else { return Shaped::Plain(value) };
        // Keys sorted, as serde_json's map keeps them.
        return Shaped::Object(
            obj.into_iter().map(|(k, v)| (k, shape_message(pool, &vm, v, style))).collect(),
        );
    }
    if field.is_list() {
        let Value::Array(items) = value else { return Shaped::Plain(value) };
        return Shaped::Array(items.into_iter().map(|v| shape_message(pool, &m, v, style)).collect());
    }
    shape_message(pool, &m, value, style)
}

fn shape_any(pool: &DescriptorPool, value: Value, style: Style) -> Shaped {
    let Value::Object(mut obj) = value else { return Shaped::Plain(value) };
    let Some(Value::String(url)) = obj.get("@type").cloned() else {
        return Shaped::Plain(Value::Object(obj));
    };
    let name = url.rsplit('/').next().unwrap_or_default();
    let Some(desc) = pool.get_message_by_name(name) else { return Shaped::Plain(Value::Object(obj)) };
    obj.remove("@type");
    let mut fields = vec![("@type".to_string(), Shaped::Plain(Value::String(url)))];
    if desc.full_name().starts_with("google.protobuf.") {
        // A well-known type inside Any keeps its `value` key.
        fields.extend(obj.into_iter().map(|(k, v)| (k, Shaped::Plain(v))));
        return Shaped::Object(fields);
    }
    match shape_message(pool, &desc, Value::Object(obj), style) {
        Shaped::Object(rest) => fields.extend(rest),
        other => fields.push(("value".to_string(), other)),
    }
    Shaped::Object(fields)
}

fn canonical_null() -> Shaped {
    let mut metadata = Map::new();
    metadata.insert("encoding".into(), Value::String(B64.encode("binary/null")));
    Shaped::Object(vec![("metadata".into(), Shaped::Plain(Value::Object(metadata)))])
}

/// A canonical payload's shorthand, if it has one.
fn shorthand_payload(canonical: &Value) -> Option<Shaped> {
    let obj = canonical.as_object()?;
    let mut metadata = std::collections::BTreeMap::new();
    if let Some(md) = obj.get("metadata") {
        for (k, v) in md.as_object()? {
            metadata.insert(k.as_str(), B64.decode(v.as_str()?).ok()?);
        }
    }
    let data = match obj.get("data") {
        Some(d) => B64.decode(d.as_str()?).ok()?,
        None => Vec::new(),
    };
    let encoding = metadata.get("encoding").map(|e| e.as_slice());
    match encoding {
        Some(b"binary/null") => Some(canonical_null()),
        Some(b"json/plain") if metadata.len() == 1 => match serde_json::from_slice::<Value>(&data).ok()? {
            Value::Null => Some(canonical_null()),
            v => Some(Shaped::Plain(v)),
        },
        Some(b"json/protobuf") if metadata.len() == 2 => {
            let message_type = String::from_utf8(metadata.get("messageType")?.clone()).ok()?;
            if message_type.is_empty() {
                return None;
            }
            let Value::Object(mut fields) = serde_json::from_slice::<Value>(&data).ok()? else { return None };
            fields.insert(PROTO_TYPE_KEY.into(), Value::String(message_type));
            Some(Shaped::Plain(Value::Object(fields)))
        }
        _ => None,
    }
}

/// Writes `v` as compact JSON, or indented by two spaces per level as Go's encoder does.
pub fn emit(v: &Shaped, pretty: bool, depth: usize, out: &mut String) {
    match v {
        Shaped::Plain(Value::Object(m)) => {
            let items: Vec<(String, Shaped)> =
                m.iter().map(|(k, v)| (k.clone(), Shaped::Plain(v.clone()))).collect();
            emit(&Shaped::Object(items), pretty, depth, out)
        }
        Shaped::Plain(Value::Array(a)) => {
            let items: Vec<Shaped> = a.iter().map(|v| Shaped::Plain(v.clone())).collect();
            emit(&Shaped::Array(items), pretty, depth, out)
        }
        Shaped::Plain(scalar) => out.push_str(&scalar.to_string()),
        Shaped::Object(fields) => {
            if fields.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(pretty, depth + 1, out);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(if pretty { ": " } else { ":" });
                emit(v, pretty, depth + 1, out);
            }
            newline(pretty, depth, out);
            out.push('}');
        }
        Shaped::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(pretty, depth + 1, out);
                emit(v, pretty, depth + 1, out);
            }
            newline(pretty, depth, out);
            out.push(']');
        }
    }
}

fn newline(pretty: bool, depth: usize, out: &mut String) {
    if pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Input: JSON value -> message

/// Reads `value` (a request's JSON with its path and query fields merged in) as a `desc`
/// message; unknown fields are refused, as the real server refuses them.
pub fn read(
    pool: &DescriptorPool,
    desc: &MessageDescriptor,
    mut value: Value,
) -> Result<DynamicMessage, JsonError> {
    // Shorthand is read whatever the output style (the real server reads it under
    // `?noPayloadShorthand` too); canonical payloads read as themselves.
    expand_message(pool, desc, &mut value)?;
    let opts = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(desc.clone(), value, &opts).map_err(|e| JsonError(e.to_string()))
}

/// The field of `desc` a JSON key names (its JSON name or its proto name).
pub fn field_by_key(desc: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_json_name(key).or_else(|| desc.get_field_by_name(key))
}

fn expand_message(
    pool: &DescriptorPool,
    desc: &MessageDescriptor,
    value: &mut Value,
) -> Result<(), JsonError> {
    match desc.full_name() {
        PAYLOAD => {
            *value = expand_payload(std::mem::take(value))?;
            return Ok(());
        }
        PAYLOADS => {
            match value {
                Value::Null => *value = Value::Object(Map::new()),
                Value::Array(items) => {
                    let payloads = std::mem::take(items)
                        .into_iter()
                        .map(expand_payload)
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut obj = Map::new();
                    obj.insert("payloads".into(), Value::Array(payloads));
                    *value = Value::Object(obj);
                }
                Value::Object(obj) => {
                    if let Some(Value::Array(items)) = obj.get_mut("payloads") {
                        for item in items.iter_mut() {
                            *item = expand_payload(std::mem::take(item))?;
                        }
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        ANY => {
            if let Value::Object(obj) = value
                && let Some(name) = obj
                    .get("@type")
                    .and_then(Value::as_str)
                    .map(|u| u.rsplit('/').next().unwrap_or_default().to_string())
                && let Some(inner) = pool.get_message_by_name(&name)
                && !inner.full_name().starts_with("google.protobuf.")
            {
                let url = obj.remove("@type");
                let mut rest = Value::Object(std::mem::take(obj));
                expand_message(pool, &inner, &mut rest)?;
                if let (Value::Object(rest), Some(url)) = (rest, url) {
                    obj.insert("@type".into(), url);
                    obj.extend(rest);
                }
            }
            return Ok(());
        }
        name if name.starts_with("google.protobuf.") => return Ok(()),
        _ => {}
    }
    let Value::Object(obj) = value else { return Ok(()) };
    for (key, v) in obj.iter_mut() {
        let Some(field) = field_by_key(desc, key) else { continue };
        let Kind::Message(m) = field.kind() else { continue };
        if field.is_map() {
            if let (Kind::Message(vm), Value::Object(entries)) = (m.map_entry_value_field().kind(), &mut *v) {
                for e in entries.values_mut() {
                    expand_message(pool, &vm, e)?;
                }
            }
        } else if field.is_list() {
            if let Value::Array(items) = v {
                for item in items.iter_mut() {
                    expand_message(pool, &m, item)?;
                }
            }
        } else {
            expand_message(pool, &m, v)?;
        }
    }
    Ok(())
}

/// A payload in either form, in canonical form.
fn expand_payload(value: Value) -> Result<Value, JsonError> {
    let json_payload = |encoding: &str, data: &Value, extra: Option<(&str, &str)>| {
        let mut metadata = Map::new();
        metadata.insert("encoding".into(), Value::String(B64.encode(encoding)));
        if let Some((k, v)) = extra {
            metadata.insert(k.into(), Value::String(B64.encode(v)));
        }
        let mut obj = Map::new();
        obj.insert("metadata".into(), Value::Object(metadata));
        if !data.is_null() {
            obj.insert("data".into(), Value::String(B64.encode(data.to_string())));
        }
        Value::Object(obj)
    };
    match value {
        Value::Null => Ok(json_payload("binary/null", &Value::Null, None)),
        Value::Object(obj) => {
            if let Some(canonical) = canonical_payload(&obj) {
                return Ok(canonical);
            }
            let mut obj = obj;
            match obj.remove(PROTO_TYPE_KEY) {
                Some(Value::String(t)) => {
                    Ok(json_payload("json/protobuf", &Value::Object(obj), Some(("messageType", t.as_str()))))
                }
                Some(other) => Err(JsonError(format!("{PROTO_TYPE_KEY} must be a string, not {other}"))),
                None => Ok(json_payload("json/plain", &Value::Object(obj), None)),
            }
        }
        other => Ok(json_payload("json/plain", &other, None)),
    }
}

/// `obj` as a canonical payload, if it is one: `metadata` (with an `encoding`) and `data`, both
/// base64, and nothing else; or only `metadata` with `encoding: binary/null`.
fn canonical_payload(obj: &Map<String, Value>) -> Option<Value> {
    let md = obj.get("metadata")?.as_object()?;
    let encoding = md.get("encoding")?.as_str()?;
    let decodes = |s: &str| decode_base64(s).is_some();
    if !md.values().all(|v| v.as_str().is_some_and(decodes)) {
        return None;
    }
    match obj.get("data") {
        None if obj.len() == 1 && decode_base64(encoding).as_deref() == Some(b"binary/null".as_slice()) => {
            Some(Value::Object(obj.clone()))
        }
        Some(Value::String(d)) if obj.len() == 2 && decodes(d) => Some(Value::Object(obj.clone())),
        _ => None,
    }
}

/// Base64 as protobuf JSON accepts it: standard or URL-safe alphabet, padded or not.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let url = s.contains(['-', '_']);
    let padded = s.len().is_multiple_of(4);
    match (url, padded) {
        (false, true) => B64.decode(s).ok(),
        (false, false) => STANDARD_NO_PAD.decode(s).ok(),
        (true, true) => URL_SAFE.decode(s).ok(),
        (true, false) => URL_SAFE_NO_PAD.decode(s).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(endure_api::DESCRIPTOR_SET).expect("descriptors decode")
    }

    fn payload(metadata: &[(&str, &str)], data: &str) -> endure_api::temporal::api::common::v1::Payload {
        endure_api::temporal::api::common::v1::Payload {
            metadata: metadata.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
            data: data.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn dynamic(pool: &DescriptorPool, name: &str, msg: &impl prost::Message) -> DynamicMessage {
        let desc = pool.get_message_by_name(name).expect("message");
        DynamicMessage::decode(desc, msg.encode_to_vec().as_slice()).expect("decodes")
    }

    fn payloads_json(list: Vec<endure_api::temporal::api::common::v1::Payload>, style: Style) -> String {
        let pool = pool();
        let msg = endure_api::temporal::api::common::v1::Payloads { payloads: list };
        write(&pool, &dynamic(&pool, PAYLOADS, &msg), style).expect("writes")
    }

    #[test]
    fn payloads_are_written_in_shorthand_when_every_one_has_it() {
        let json = |d: &str| payload(&[("encoding", "json/plain")], d);
        let style = Style::default();
        assert_eq!(
            payloads_json(vec![json(r#"{"b":1,"a":[true]}"#), json("5")], style),
            r#"[{"a":[true],"b":1},5]"#
        );
        assert_eq!(
            payloads_json(vec![payload(&[("encoding", "binary/null")], ""), json("null")], style),
            r#"[{"metadata":{"encoding":"YmluYXJ5L251bGw="}},{"metadata":{"encoding":"YmluYXJ5L251bGw="}}]"#
        );
        assert_eq!(
            payloads_json(
                vec![payload(&[("encoding", "json/protobuf"), ("messageType", "a.B")], r#"{"x":1}"#)],
                style
            ),
            r#"[{"_protoMessageType":"a.B","x":1}]"#
        );
        // One without a shorthand: the canonical object, the others still in shorthand.
        assert_eq!(
            payloads_json(vec![payload(&[("encoding", "binary/plain")], "raw"), json(r#""s""#)], style),
            r#"{"payloads":[{"metadata":{"encoding":"YmluYXJ5L3BsYWlu"},"data":"cmF3"},"s"]}"#
        );
        // Extra metadata has no shorthand.
        assert!(
            payloads_json(vec![payload(&[("encoding", "json/plain"), ("k", "v")], "1")], style)
                .starts_with("{")
        );
        let canonical = Style { canonical_payloads: true, pretty: false };
        assert_eq!(
            payloads_json(vec![json("5")], canonical),
            r#"{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"NQ=="}]}"#
        );
    }

    fn read_payloads(value: Value) -> Vec<endure_api::temporal::api::common::v1::Payload> {
        let pool = pool();
        let desc = pool.get_message_by_name(PAYLOADS).expect("message");
        let msg = read(&pool, &desc, serde_json::json!({ "payloads": [] })).expect("reads");
        assert!(msg.encode_to_vec().is_empty());
        let wrapper = pool
            .get_message_by_name("temporal.api.workflowservice.v1.SignalWorkflowExecutionRequest")
            .expect("message");
        let msg = read(&pool, &wrapper, serde_json::json!({ "input": value })).expect("reads");
        let decoded = endure_api::temporal::api::workflowservice::v1::SignalWorkflowExecutionRequest::decode(
            msg.encode_to_vec().as_slice(),
        )
        .expect("decodes");
        decoded.input.map(|p| p.payloads).unwrap_or_default()
    }

    #[test]
    fn shorthand_and_canonical_payloads_are_read() {
        let got =
            read_payloads(serde_json::json!([{"b": 1, "a": 2}, null, {"_protoMessageType": "a.B", "x": 1}]));
        assert_eq!(got[0], payload(&[("encoding", "json/plain")], r#"{"a":2,"b":1}"#));
        assert_eq!(got[1], payload(&[("encoding", "binary/null")], ""));
        assert_eq!(got[2], payload(&[("encoding", "json/protobuf"), ("messageType", "a.B")], r#"{"x":1}"#));
        let canonical =
            serde_json::json!({"payloads": [{"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "cmF3"}]});
        assert_eq!(read_payloads(canonical), vec![payload(&[("encoding", "binary/plain")], "raw")]);
        // An object that is not a whole canonical payload is a JSON value.
        let got = read_payloads(serde_json::json!([{"metadata": 1}]));
        assert_eq!(got[0], payload(&[("encoding", "json/plain")], r#"{"metadata":1}"#));
        assert!(read_payloads(Value::Null).is_empty());
    }

    #[test]
    fn fields_come_in_declaration_order_and_pretty_indents_by_two() {
        let pool = pool();
        let resp = endure_api::temporal::api::workflowservice::v1::StartWorkflowExecutionResponse {
            run_id: "r".into(),
            first_execution_run_id: "f".into(),
            started: true,
            ..Default::default()
        };
        let msg = dynamic(&pool, "temporal.api.workflowservice.v1.StartWorkflowExecutionResponse", &resp);
        assert_eq!(
            write(&pool, &msg, Style::default()).expect("writes"),
            r#"{"runId":"r","firstExecutionRunId":"f","started":true}"#
        );
        let pretty = write(&pool, &msg, Style { pretty: true, canonical_payloads: false }).expect("writes");
        assert_eq!(
            pretty,
            "{\n  \"runId\": \"r\",\n  \"firstExecutionRunId\": \"f\",\n  \"started\": true\n}"
        );
    }
}
