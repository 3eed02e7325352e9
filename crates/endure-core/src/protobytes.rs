//! Serde adapters that store protobuf messages inside serde-serialized state as base64 of their
//! protobuf encoding, so payloads survive byte for byte.

use base64::{Engine, engine::general_purpose::STANDARD};
use prost::Message;
use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "protobytes::opt")]` for `Option<T: Message>`.
pub mod opt {
    use super::*;

    /// Serializes an optional message as base64 (or null).
    pub fn serialize<T: Message, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(m) => s.serialize_some(&STANDARD.encode(m.encode_to_vec())),
            None => s.serialize_none(),
        }
    }

    /// Deserializes an optional message from base64 (or null).
    pub fn deserialize<'de, T: Message + Default, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| decode(&s)).transpose()
    }
}

/// `#[serde(with = "protobytes::vec")]` for `Vec<T: Message>`.
pub mod vec {
    use super::*;

    /// Serializes a list of messages as a list of base64 strings.
    pub fn serialize<T: Message, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|m| STANDARD.encode(m.encode_to_vec())))
    }

    /// Deserializes a list of messages from a list of base64 strings.
    pub fn deserialize<'de, T: Message + Default, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        let v: Vec<String> = Vec::deserialize(d)?;
        v.iter().map(|s| decode(s)).collect()
    }
}

/// `#[serde(with = "protobytes::raw")]` for already-encoded bytes, stored as base64.
pub mod raw {
    use super::*;

    /// Serializes bytes as base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Deserializes bytes from base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

fn decode<T: Message + Default, E: serde::de::Error>(s: &str) -> Result<T, E> {
    let bytes = STANDARD.decode(s).map_err(E::custom)?;
    T::decode(bytes.as_slice()).map_err(E::custom)
}
