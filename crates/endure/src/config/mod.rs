//! The production configuration read by `endure server start --config FILE` and
//! `endure migrate --config FILE` (docs/configuration.md).
//!
//! Values come from three layers, each overriding the one before, merged by figment: the
//! defaults (the section structs' `Default`), the TOML file, and one layer per `ENDURE_<KEY>`
//! environment variable (the dotted key in upper case with `_` for `.`). Serde then reads the
//! merged values into the typed sections ([`sections`]), which validate themselves. The list of
//! keys is not written anywhere: [`keys`] derives it from the serialized defaults, and with it
//! the environment variables' names and how their text converts.
//!
//! Errors name the dotted key and where its value came from (the file's line and column, the
//! environment variable, or the default); the PostgreSQL password never appears in an error or
//! in `Debug` output.
//!
//! This module deliberately does not know what any key means: the rules live with the sections,
//! search-attribute names and types with the server (`schema::parse_declaration`), and what the
//! server does with the values with `production.rs`.

mod sections;

pub use sections::*;

use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "ENDURE_";

/// Prefixes (or whole names) of `ENDURE_` environment variables that are not configuration keys
/// but are used elsewhere in the project (test harnesses, benchmarks, example workers); they are
/// ignored rather than rejected as typos.
pub const ENV_ALLOWLIST: &[&str] = &[
    "ENDURE_TEST_",
    "ENDURE_BIN",
    "ENDURE_SKIP_",
    "ENDURE_BENCH",
    // The configuration file's path for `endure server start` / `endure migrate`.
    "ENDURE_CONFIG",
    // The example workers' and examples' own settings (deploy/kubernetes/worker, examples/).
    "ENDURE_ADDRESS",
    "ENDURE_NAMESPACE",
    "ENDURE_TASK_QUEUE",
    "ENDURE_EXAMPLE_",
];

/// The key whose value is never shown in an error.
const SECRET_KEY: &str = "storage.postgres.password";

/// The whole configuration; [`Config::load`] returns it validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listeners, cluster identity and start-up namespaces.
    pub server: ServerSection,
    /// `[log]`: log output.
    pub log: LogSection,
    /// `[storage]`: the database.
    pub storage: StorageSection,
    /// `[cluster]`: sharding and membership.
    pub cluster: ClusterSection,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsSection,
    /// `[tracing]`: OpenTelemetry traces.
    pub tracing: TracingSection,
    /// `[ui]`: the Web UI.
    pub ui: UiSection,
}

/// Why the configuration could not be loaded. Messages name the dotted key and where its value
/// came from (file position or environment variable); none contains the password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}: invalid TOML at {}: {message}", match location {
        Some((line, column)) => format!("line {line}, column {column}"),
        None => "unknown position".into(),
    })]
    Syntax {
        /// The file name.
        file: String,
        /// Line and column (1-based), when known.
        location: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// An `ENDURE_` environment variable that is neither a configuration key nor allowlisted.
    #[error("unknown environment variable {var}: it sets no configuration key")]
    UnknownEnv {
        /// The variable's name.
        var: String,
    },
    /// An environment variable's value does not convert to its key's type.
    #[error("{var}: {message}")]
    BadEnv {
        /// The variable's name.
        var: String,
        /// What is wrong, e.g. `expected an integer, got "abc"`.
        message: String,
    },
    /// A key that does not exist, a value of the wrong type, or one that breaks a rule.
    #[error("{key}: {message} ({origin})")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
        /// Where the value came from: `in FILE line L, column C`, `from ENDURE_...` or `default`.
        origin: String,
    },
}

impl Config {
    /// Loads the configuration: the defaults, overridden by the TOML file at `path` (if any),
    /// overridden by the `ENDURE_*` variables in `env` (pass [`process_env`] in production).
    /// Reads `storage.postgres.password_file` if set, and validates everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        match path {
            None => load(None, env),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
                load(Some((path, &text)), env)
            }
        }
    }

    /// Like [`Config::load`] with the file's contents given as `text` (named `<config>` in
    /// errors).
    #[cfg(test)]
    pub fn from_str_with_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load(Some((Path::new("<config>"), text)), env)
    }

    fn validate(&mut self) -> Result<(), sections::Invalid> {
        self.server.validate()?;
        sections::check_listeners(
            &[self.server.listeners(), self.metrics.listeners(), self.ui.listeners()].concat(),
        )?;
        self.ui.validate()?;
        self.storage.validate()?;
        self.cluster.validate()
    }
}

/// The process environment's `ENDURE_*` variables, for [`Config::load`]. Variables whose name is
/// not valid Unicode are skipped; values that are not are converted lossily.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with(ENV_PREFIX).then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// One configuration key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The dotted path, e.g. `storage.postgres.host`.
    pub path: String,
    /// Its default value, as TOML.
    pub default: toml::Value,
}

impl Key {
    /// The environment variable that overrides this key, e.g. `ENDURE_STORAGE_POSTGRES_HOST`.
    pub fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}", self.path.to_ascii_uppercase().replace('.', "_"))
    }
}

/// Every configuration key, in file order, derived from the serialized defaults: a table is a
/// section unless it is empty (`server.search_attributes`, whose value is a table, defaults to
/// an empty one).
pub fn keys() -> Vec<Key> {
    fn walk(table: toml::Table, prefix: &str, keys: &mut Vec<Key>) {
        for (name, value) in table {
            let path = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
            match value {
                toml::Value::Table(section) if !section.is_empty() => walk(section, &path, keys),
                default => keys.push(Key { path, default }),
            }
        }
    }
    let mut keys = Vec::new();
    walk(toml::Table::try_from(Config::default()).expect("the defaults serialize as TOML"), "", &mut keys);
    keys
}

/// One layer of values for figment: the file, or one environment variable.
struct Layer {
    metadata: Metadata,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

fn load(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let text = file.map(|(_, text)| text);
    let defaults = Figment::from(Serialized::defaults(Config::default()));
    let mut figment = defaults.clone();
    let mut file_values = None;
    if let Some((path, text)) = file {
        let values: Dict = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: path.display().to_string(),
            // Not e.to_string(): that quotes the offending line, which may hold the password.
            location: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim_end().to_owned(),
        })?;
        let metadata = Metadata::from(path.display().to_string(), path);
        // The file's own mistakes count even where a variable overrides the key.
        extract(
            &defaults.clone().merge(Layer { metadata: metadata.clone(), values: values.clone() }),
            Some(text),
        )?;
        file_values = Some((metadata, values));
    }
    let env = env_layers(env)?;
    if let Some((metadata, mut values)) = file_values {
        // A variable replaces its key's whole value: a table is not merged with the file's.
        for (key, _) in &env {
            remove(&mut values, key);
        }
        figment = figment.merge(Layer { metadata, values });
    }
    for (_, layer) in env {
        figment = figment.merge(layer);
    }
    let mut config = extract(&figment, text)?;
    config.validate().map_err(|e| ConfigError::Invalid {
        key: e.key.to_owned(),
        message: e.message,
        origin: origin(&figment, text, e.key),
    })?;
    Ok(config)
}

/// Reads the merged values into the typed sections; an error names the key (the value's own for
/// a list item or a search attribute) and where its value came from.
fn extract(figment: &Figment, text: Option<&str>) -> Result<Config, ConfigError> {
    figment.extract().map_err(|e| {
        let key = e.path.join(".");
        let message = match &e.kind {
            Kind::UnknownField(_, expected) => {
                format!("unknown key, expected one of {}", expected.join(", "))
            }
            Kind::UnknownVariant(found, expected) => {
                format!("expected one of {}, got {found:?}", expected.join(", "))
            }
            // Never the value itself.
            _ if key == SECRET_KEY => "expected a string".into(),
            kind => kind.to_string(),
        };
        ConfigError::Invalid { origin: origin(figment, text, &key), key, message }
    })
}

/// One layer per `ENDURE_` variable in `env` (in name order), with its key. A variable that is
/// neither a key's nor allowlisted is an error, so a misspelt override is not silently ignored.
fn env_layers(env: impl IntoIterator<Item = (String, String)>) -> Result<Vec<(String, Layer)>, ConfigError> {
    let keys = keys();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| {
            name.starts_with(ENV_PREFIX) && !ENV_ALLOWLIST.iter().any(|p| name.starts_with(p))
        })
        .collect();
    vars.sort();
    vars.into_iter()
        .map(|(var, text)| {
            let key = keys
                .iter()
                .find(|k| k.env_var() == var)
                .ok_or_else(|| ConfigError::UnknownEnv { var: var.clone() })?;
            let value = env_value(&key.default, &text).map_err(|expected| ConfigError::BadEnv {
                message: format!("expected {expected}, got {text:?}"),
                var: var.clone(),
            })?;
            let values = figment::util::nest(&key.path, value).into_dict().unwrap_or_default();
            Ok((
                key.path.clone(),
                Layer { metadata: Metadata::from(var.clone(), Source::Custom(var)), values },
            ))
        })
        .collect()
}

/// Converts an environment variable's text to a value of its key's type (that of the key's
/// default): integers and booleans (`true`, `false`, `1`, `0`) are parsed, lists are
/// comma-separated and tables are `NAME=VALUE` lists. Errors say what was expected.
fn env_value(default: &toml::Value, text: &str) -> Result<Value, &'static str> {
    let items = || text.split(',').map(str::trim).filter(|s| !s.is_empty());
    Ok(match default {
        toml::Value::Integer(_) => text.trim().parse::<i64>().map_err(|_| "an integer")?.into(),
        toml::Value::Boolean(_) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => true.into(),
            "false" | "0" => false.into(),
            _ => return Err("true or false"),
        },
        toml::Value::Array(_) => items().collect::<Vec<_>>().into(),
        toml::Value::Table(_) => {
            let mut table = Dict::new();
            for item in items() {
                let (name, value) = item.split_once('=').ok_or("NAME=TYPE[,NAME=TYPE...]")?;
                if table.insert(name.trim().to_owned(), value.trim().into()).is_some() {
                    return Err("each NAME once");
                }
            }
            table.into()
        }
        _ => text.into(),
    })
}

/// Removes the value at a dotted path, if there is one.
fn remove(values: &mut Dict, path: &str) {
    match path.split_once('.') {
        None => drop(values.remove(path)),
        Some((head, rest)) => {
            if let Some(Value::Dict(_, inner)) = values.get_mut(head) {
                remove(inner, rest);
            }
        }
    }
}

/// Where the value at `path` (or, for a list item, at the closest enclosing key) came from:
/// `in FILE line L, column C`, `from ENDURE_...` or `default`.
fn origin(figment: &Figment, text: Option<&str>, path: &str) -> String {
    let found = std::iter::successors(Some(path), |p| p.rsplit_once('.').map(|(parent, _)| parent))
        .find_map(|p| Some((p, figment.find_metadata(p)?)));
    match found.and_then(|(p, metadata)| Some((p, metadata.source.as_ref()?))) {
        Some((p, Source::File(file))) => match text.and_then(|text| locate(text, p)) {
            Some((line, column)) => format!("in {} line {line}, column {column}", file.display()),
            None => format!("in {}", file.display()),
        },
        Some((_, Source::Custom(var))) => format!("from {var}"),
        _ => "default".into(),
    }
}

/// Line and column (1-based) of the key at a dotted path in the TOML text.
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut offset = None;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        offset = Some(key.span().start);
        if parts.peek().is_some() {
            match value.get_ref() {
                toml::de::DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
    }
    offset.map(|o| line_col(text, o))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
