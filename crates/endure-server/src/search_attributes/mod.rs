//! Search attributes: Temporal's definitions ([`schema`]: the system attributes, the custom
//! name rule, type names), the values runs carry ([`values`]: validation, typed values,
//! presentation) and each namespace's registered custom attributes ([`registry`]).

pub mod registry;
pub mod schema;
pub mod values;

pub use registry::SearchAttributeRegistry;
pub use schema::{SaType, type_name};
pub use values::{SaTypes, decode_value, present, validate};
