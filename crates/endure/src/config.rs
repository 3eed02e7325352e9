//! The production configuration read by `endure server start --config FILE` and
//! `endure migrate --config FILE`.
//!
//! Values come from three layers, each overriding the one before: the defaults, the TOML file,
//! and `ENDURE_<KEY>` environment variables (the dotted key in upper case with `_` for `.`, e.g.
//! `ENDURE_STORAGE_POSTGRES_HOST`). Environment values are written into the parsed TOML tree
//! before it is deserialized, so they go through the same checks as the file. Every key is listed
//! once, in [`KEYS`], which drives the unknown-key checks, the environment lookup and a test that
//! `docs/configuration.md` documents every key.
//!
//! Errors name the dotted key (and the file position or the environment variable it came from);
//! the PostgreSQL password never appears in an error or in `Debug` output.

use endure_server::search_attributes::{SaType, type_name};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The type of a configuration key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A string.
    String,
    /// An integer between `min` and `max` inclusive (the range its field can hold; narrower
    /// limits are checked afterwards with a key-specific message).
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// `true` or `false` (`1` or `0` too in an environment variable).
    Bool,
    /// A list of strings; comma-separated in an environment variable.
    StringList,
    /// A table of search attributes `NAME = "TYPE"`; `NAME=TYPE,NAME2=TYPE` in an environment
    /// variable.
    SearchAttributes,
}

impl KeyKind {
    /// What a value of this kind looks like, for error messages.
    fn expected(self) -> String {
        match self {
            KeyKind::String => "a string".into(),
            KeyKind::Integer { min, max } => format!("an integer between {min} and {max}"),
            KeyKind::Bool => "true or false".into(),
            KeyKind::StringList => "a list of strings".into(),
            KeyKind::SearchAttributes => "a table of NAME = \"TYPE\"".into(),
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The dotted path, e.g. `storage.postgres.host`.
    pub path: &'static str,
    /// The type of its value.
    pub kind: KeyKind,
}

impl Key {
    /// The environment variable that overrides this key, e.g. `ENDURE_STORAGE_POSTGRES_HOST`.
    pub fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}", self.path.to_ascii_uppercase().replace('.', "_"))
    }
}

const U16: KeyKind = KeyKind::Integer { min: 0, max: u16::MAX as i64 };
const U32: KeyKind = KeyKind::Integer { min: 0, max: u32::MAX as i64 };
const U64: KeyKind = KeyKind::Integer { min: 0, max: i64::MAX };

/// Every configuration key, in file order.
pub const KEYS: &[Key] = &[
    Key { path: "server.listen", kind: KeyKind::String },
    Key { path: "server.internal_listen", kind: KeyKind::String },
    Key { path: "server.http_listen", kind: KeyKind::String },
    Key { path: "server.advertise_address", kind: KeyKind::String },
    Key { path: "server.namespaces", kind: KeyKind::StringList },
    Key { path: "server.search_attributes", kind: KeyKind::SearchAttributes },
    Key { path: "log.format", kind: KeyKind::String },
    Key { path: "log.level", kind: KeyKind::String },
    Key { path: "storage.backend", kind: KeyKind::String },
    Key { path: "storage.auto_migrate", kind: KeyKind::Bool },
    Key { path: "storage.sqlite.path", kind: KeyKind::String },
    Key { path: "storage.postgres.host", kind: KeyKind::String },
    Key { path: "storage.postgres.port", kind: U16 },
    Key { path: "storage.postgres.database", kind: KeyKind::String },
    Key { path: "storage.postgres.user", kind: KeyKind::String },
    Key { path: "storage.postgres.password", kind: KeyKind::String },
    Key { path: "storage.postgres.password_file", kind: KeyKind::String },
    Key { path: "storage.postgres.max_connections", kind: U32 },
    Key { path: "storage.postgres.connect_timeout_ms", kind: U64 },
    Key { path: "cluster.shards", kind: U32 },
    Key { path: "cluster.heartbeat_interval_ms", kind: U64 },
    Key { path: "cluster.member_ttl_ms", kind: U64 },
];

/// The key with this dotted path.
pub fn key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// Whether `path` is a section (a table holding keys), e.g. `storage` or `storage.postgres`.
fn is_section(path: &str) -> bool {
    KEYS.iter().any(|k| k.path.strip_prefix(path).is_some_and(|rest| rest.starts_with('.')))
}

/// Search attribute types accepted in `server.search_attributes`, as spelled in messages.
const SA_TYPES: &str = "Keyword, Text, Int, Double, Bool, Datetime, KeywordList";

// ---------------------------------------------------------------------------------------------
// The configuration.

/// The whole configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[server]`: listeners, cluster identity and start-up namespaces.
    pub server: ServerSection,
    /// `[log]`: log output.
    pub log: LogSection,
    /// `[storage]`: the database.
    pub storage: StorageSection,
    /// `[cluster]`: sharding and membership.
    pub cluster: ClusterSection,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSection {
    /// `server.listen`: client gRPC (Temporal API) address.
    pub listen: SocketAddr,
    /// `server.internal_listen`: replica-to-replica gRPC address.
    pub internal_listen: SocketAddr,
    /// `server.http_listen`: `/healthz` and `/readyz` address; `None` when disabled (empty).
    pub http_listen: Option<SocketAddr>,
    /// `server.advertise_address`: the `host:port` other replicas use to reach
    /// `internal_listen`. Always set: when the key is empty it is derived from `internal_listen`
    /// (the machine's hostname and its port if its IP is unspecified, else `internal_listen`).
    pub advertise_address: String,
    /// `server.namespaces`: namespaces created at start-up if missing (duplicates removed).
    pub namespaces: Vec<String>,
    /// `server.search_attributes`: custom search attributes registered at start-up in those
    /// namespaces, sorted by name.
    pub search_attributes: Vec<(String, SaType)>,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSection {
    /// `log.format`.
    pub format: LogFormat,
    /// `log.level`.
    pub level: LogLevel,
}

/// `log.format`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.level`: the most verbose level logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages and above.
    Info,
    /// Debugging detail and above.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level's name in lower case (`"info"`), as `tracing_subscriber::EnvFilter` accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSection {
    /// `storage.backend`.
    pub backend: Backend,
    /// `storage.auto_migrate`: apply schema migrations at start-up; when false the server
    /// refuses an out-of-date schema and asks for `endure migrate`.
    pub auto_migrate: bool,
    /// `[storage.sqlite]` (used when `backend` is [`Backend::Sqlite`]).
    pub sqlite: SqliteSection,
    /// `[storage.postgres]` (used when `backend` is [`Backend::Postgres`]).
    pub postgres: PostgresSection,
}

/// `storage.backend`: which database holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, shared by every replica of a cluster.
    Postgres,
    /// An embedded SQLite file (a single server).
    Sqlite,
}

/// `[storage.sqlite]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSection {
    /// `storage.sqlite.path`: the database file (relative paths are relative to the working
    /// directory).
    pub path: PathBuf,
}

/// `[storage.postgres]`. Its `Debug` output redacts the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSection {
    /// `storage.postgres.host`.
    pub host: String,
    /// `storage.postgres.port`.
    pub port: u16,
    /// `storage.postgres.database`.
    pub database: String,
    /// `storage.postgres.user`.
    pub user: String,
    /// The password: `storage.postgres.password`, or the contents of
    /// `storage.postgres.password_file` without its trailing newline; `None` when neither is set.
    pub password: Option<Secret>,
    /// `storage.postgres.password_file`, if set (already read into `password`).
    pub password_file: Option<PathBuf>,
    /// `storage.postgres.max_connections`: connection pool bound per replica (1..=1000).
    pub max_connections: u32,
    /// `storage.postgres.connect_timeout_ms`.
    pub connect_timeout_ms: u64,
}

impl PostgresSection {
    /// `connect_timeout_ms` as a [`Duration`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

/// A secret string (the database password). `Debug` prints `<redacted>`; there is no `Display`,
/// so reading it takes an explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSection {
    /// `cluster.shards`: history shard count used when the cluster is first created (1..=4096);
    /// afterwards the stored count wins.
    pub shards: u32,
    /// `cluster.heartbeat_interval_ms`: membership heartbeat period (>= 100).
    pub heartbeat_interval_ms: u64,
    /// `cluster.member_ttl_ms`: a member whose last heartbeat is older than this is dead and its
    /// shards are taken over (> 2 × `heartbeat_interval_ms`).
    pub member_ttl_ms: u64,
}

impl ClusterSection {
    /// `heartbeat_interval_ms` as a [`Duration`].
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// `member_ttl_ms` as a [`Duration`].
    pub fn member_ttl(&self) -> Duration {
        Duration::from_millis(self.member_ttl_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.

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
    #[error("{file}: invalid TOML at {}: {message}", at(*location))]
    Syntax {
        /// The file name.
        file: String,
        /// Line and column (1-based), when known.
        location: Option<(usize, usize)>,
        /// The parser's message.
        message: String,
    },
    /// The file has a key that is not a configuration key (a typo, usually).
    #[error("{file}: unknown key \"{key}\" at {}{}", at(*location), did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// The file name.
        file: String,
        /// The dotted key, e.g. `storage.postgres.hots`.
        key: String,
        /// Line and column (1-based) of the key, when known.
        location: Option<(usize, usize)>,
        /// The closest known key, if any is close.
        suggestion: Option<String>,
    },
    /// A value in the file has the wrong type.
    #[error("{file}: {key} at {}: expected {expected}, got {found}", at(*location))]
    WrongType {
        /// The file name.
        file: String,
        /// The dotted key.
        key: String,
        /// Line and column (1-based) of the key, when known.
        location: Option<(usize, usize)>,
        /// What the key takes.
        expected: String,
        /// The TOML type found (never the value).
        found: &'static str,
    },
    /// An `ENDURE_` environment variable that is neither a configuration key nor allowlisted.
    #[error("unknown environment variable {var}: it sets no configuration key{}", did_you_mean(suggestion.as_deref()))]
    UnknownEnv {
        /// The variable's name.
        var: String,
        /// The closest configuration variable, if any is close.
        suggestion: Option<String>,
    },
    /// An environment variable's value does not convert to its key's type.
    #[error("{var}: {message}")]
    BadEnv {
        /// The variable's name.
        var: String,
        /// What is wrong, e.g. `expected an integer, got "abc"`.
        message: String,
    },
    /// A value failed validation.
    #[error("{key}: {message} ({origin})")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong.
        message: String,
        /// Where the value came from: `in FILE line L, column C`, `from ENDURE_...` or `default`.
        origin: String,
    },
    /// `storage.postgres.password_file` could not be read.
    #[error("storage.postgres.password_file: cannot read {}: {error} ({origin})", path.display())]
    PasswordFile {
        /// The password file.
        path: PathBuf,
        /// Where the path came from.
        origin: String,
        /// The I/O error.
        error: std::io::Error,
    },
}

fn at(location: Option<(usize, usize)>) -> String {
    match location {
        Some((line, column)) => format!("line {line}, column {column}"),
        None => "unknown position".into(),
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Loading.

impl Config {
    /// Loads the configuration: the defaults, overridden by the TOML file at `path` (if any),
    /// overridden by the `ENDURE_*` variables in `env` (pass [`process_env`] in production).
    /// Reads `storage.postgres.password_file` if set, and validates everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        match path {
            None => parse(None, "<defaults>", env),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
                parse(Some(&text), &path.display().to_string(), env)
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
        parse(Some(text), "<config>", env)
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

/// Rejects any `ENDURE_` variable in `env` that is neither a configuration key's variable nor
/// covered by [`ENV_ALLOWLIST`] (so a misspelt override is an error, not silently ignored).
/// Other variables are ignored. Reports the first offender in name order.
pub fn check_unknown_env<N: AsRef<str>, V>(env: impl IntoIterator<Item = (N, V)>) -> Result<(), ConfigError> {
    let mut unknown: Vec<String> = env
        .into_iter()
        .map(|(name, _)| name.as_ref().to_owned())
        .filter(|name| {
            name.starts_with(ENV_PREFIX)
                && key_for_env(name).is_none()
                && !ENV_ALLOWLIST.iter().any(|p| name.starts_with(p))
        })
        .collect();
    unknown.sort();
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(var) => {
            let suggestion = closest(&var, KEYS.iter().map(Key::env_var));
            Err(ConfigError::UnknownEnv { var, suggestion })
        }
    }
}

/// The key an environment variable overrides.
fn key_for_env(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.env_var() == name)
}

/// Where values came from, for error messages.
struct Origins<'a> {
    file: &'a str,
    text: Option<&'a str>,
    env: HashMap<&'static str, String>,
}

impl Origins<'_> {
    /// Where `path`'s value came from.
    fn of(&self, path: &str) -> String {
        if let Some(var) = self.env.get(path) {
            return format!("from {var}");
        }
        match self.text.and_then(|t| locate(t, path)) {
            Some((line, column)) => format!("in {} line {line}, column {column}", self.file),
            None => "default".into(),
        }
    }
}

fn parse(
    text: Option<&str>,
    file: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut tree = match text {
        None => toml::Table::new(),
        Some(text) => text.parse::<toml::Table>().map_err(|e| ConfigError::Syntax {
            file: file.to_owned(),
            // Not e.to_string(): that quotes the offending line, which may hold the password.
            location: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim_end().to_owned(),
        })?,
    };
    check_tree(&tree, "", file, text.unwrap_or(""))?;

    let mut vars: Vec<(String, String)> =
        env.into_iter().filter(|(n, _)| n.starts_with(ENV_PREFIX)).collect();
    vars.sort();
    check_unknown_env(vars.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    let mut from_env = HashMap::new();
    for (var, value) in vars {
        let Some(key) = key_for_env(&var) else { continue };
        set_path(&mut tree, key.path, env_value(key.kind, &var, &value)?);
        from_env.insert(key.path, var);
    }
    let origins = Origins { file, text, env: from_env };

    // The checks above make this infallible in practice; serde's deny_unknown_fields and typed
    // fields are the backstop.
    let raw: RawConfig = tree.try_into().map_err(|e: toml::de::Error| ConfigError::Syntax {
        file: file.to_owned(),
        location: None,
        message: e.message().trim_end().to_owned(),
    })?;
    build(raw, &origins)
}

/// Checks that every key in the file is known and has the right type.
fn check_tree(table: &toml::Table, prefix: &str, file: &str, text: &str) -> Result<(), ConfigError> {
    for (name, value) in table {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        if is_section(&path) {
            match value {
                toml::Value::Table(t) => check_tree(t, &path, file, text)?,
                other => {
                    return Err(ConfigError::WrongType {
                        file: file.to_owned(),
                        location: locate(text, &path),
                        key: path,
                        expected: "a table".into(),
                        found: other.type_str(),
                    });
                }
            }
        } else if let Some(key) = key(&path) {
            if !kind_matches(key.kind, value) {
                return Err(ConfigError::WrongType {
                    file: file.to_owned(),
                    location: locate(text, &path),
                    key: path,
                    expected: key.kind.expected(),
                    found: value.type_str(),
                });
            }
        } else {
            return Err(ConfigError::UnknownKey {
                file: file.to_owned(),
                location: locate(text, &path),
                suggestion: closest(&path, KEYS.iter().map(|k| k.path.to_owned())),
                key: path,
            });
        }
    }
    Ok(())
}

fn kind_matches(kind: KeyKind, value: &toml::Value) -> bool {
    match (kind, value) {
        (KeyKind::String, toml::Value::String(_)) => true,
        (KeyKind::Integer { min, max }, toml::Value::Integer(i)) => (min..=max).contains(i),
        (KeyKind::Bool, toml::Value::Boolean(_)) => true,
        (KeyKind::StringList, toml::Value::Array(items)) => items.iter().all(toml::Value::is_str),
        (KeyKind::SearchAttributes, toml::Value::Table(t)) => t.values().all(toml::Value::is_str),
        _ => false,
    }
}

/// Converts an environment variable's value to its key's TOML value.
fn env_value(kind: KeyKind, var: &str, value: &str) -> Result<toml::Value, ConfigError> {
    let bad = |message: String| ConfigError::BadEnv { var: var.to_owned(), message };
    Ok(match kind {
        KeyKind::String => toml::Value::String(value.to_owned()),
        KeyKind::Integer { min, max } => {
            let n: i64 =
                value.trim().parse().map_err(|_| bad(format!("expected an integer, got {value:?}")))?;
            if !(min..=max).contains(&n) {
                return Err(bad(format!("expected an integer between {min} and {max}, got {value:?}")));
            }
            toml::Value::Integer(n)
        }
        KeyKind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => toml::Value::Boolean(true),
            "false" | "0" => toml::Value::Boolean(false),
            _ => return Err(bad(format!("expected true or false, got {value:?}"))),
        },
        KeyKind::StringList => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        KeyKind::SearchAttributes => {
            let mut table = toml::Table::new();
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, ty) = item
                    .split_once('=')
                    .ok_or_else(|| bad(format!("expected NAME=TYPE[,NAME=TYPE...], got {value:?}")))?;
                let name = name.trim();
                if table.insert(name.to_owned(), toml::Value::String(ty.trim().to_owned())).is_some() {
                    return Err(bad(format!("search attribute {name:?} is listed twice")));
                }
            }
            toml::Value::Table(table)
        }
    })
}

/// Sets the value at a dotted path, creating tables on the way.
fn set_path(tree: &mut toml::Table, path: &str, value: toml::Value) {
    let (parents, leaf) = path.rsplit_once('.').map_or((None, path), |(p, l)| (Some(p), l));
    let mut table = tree;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        let entry = table.entry(part.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    table.insert(leaf.to_owned(), value);
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

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
fn closest(word: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

// ---------------------------------------------------------------------------------------------
// The file's shape, with the defaults.

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    log: RawLog,
    storage: RawStorage,
    cluster: RawCluster,
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServer {
    listen: String,
    internal_listen: String,
    http_listen: String,
    advertise_address: String,
    namespaces: Vec<String>,
    search_attributes: BTreeMap<String, String>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "0.0.0.0:7233".into(),
            internal_listen: "0.0.0.0:7234".into(),
            http_listen: "0.0.0.0:7243".into(),
            advertise_address: String::new(),
            namespaces: vec!["default".into()],
            search_attributes: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { format: "text".into(), level: "info".into() }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawStorage {
    backend: String,
    auto_migrate: bool,
    sqlite: RawSqlite,
    postgres: RawPostgres,
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            backend: "postgres".into(),
            auto_migrate: false,
            sqlite: RawSqlite::default(),
            postgres: RawPostgres::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSqlite {
    path: String,
}

impl Default for RawSqlite {
    fn default() -> Self {
        RawSqlite { path: "endure.db".into() }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPostgres {
    host: String,
    port: u16,
    database: String,
    user: String,
    password: String,
    password_file: String,
    max_connections: u32,
    connect_timeout_ms: u64,
}

impl Default for RawPostgres {
    fn default() -> Self {
        RawPostgres {
            host: "localhost".into(),
            port: 5432,
            database: "endure".into(),
            user: "endure".into(),
            password: String::new(),
            password_file: String::new(),
            max_connections: 16,
            connect_timeout_ms: 5000,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawCluster {
    shards: u32,
    heartbeat_interval_ms: u64,
    member_ttl_ms: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster { shards: 16, heartbeat_interval_ms: 1000, member_ttl_ms: 5000 }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation.

fn build(raw: RawConfig, origins: &Origins<'_>) -> Result<Config, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_owned(),
        message,
        origin: origins.of(key),
    };
    let invalid_sa = |name: &str, message: String| ConfigError::Invalid {
        key: format!("server.search_attributes.{name}"),
        message,
        origin: origins.of("server.search_attributes"),
    };

    // [server]
    let s = raw.server;
    let listen = parse_listen(&s.listen).map_err(|m| invalid("server.listen", m))?;
    let internal_listen =
        parse_listen(&s.internal_listen).map_err(|m| invalid("server.internal_listen", m))?;
    let http_listen = match s.http_listen.trim() {
        "" => None,
        text => Some(parse_listen(text).map_err(|m| invalid("server.http_listen", m))?),
    };
    let mut listeners = vec![("server.listen", listen), ("server.internal_listen", internal_listen)];
    listeners.extend(http_listen.map(|a| ("server.http_listen", a)));
    for (i, (key, addr)) in listeners.iter().enumerate() {
        if let Some((other, _)) = listeners[..i].iter().find(|(_, a)| addresses_clash(*a, *addr)) {
            return Err(invalid(
                key,
                format!("{addr} clashes with {other}; every listener needs its own port"),
            ));
        }
    }
    let advertise_address = match s.advertise_address.trim() {
        "" => derive_advertise_address(internal_listen, machine_hostname)
            .map_err(|m| invalid("server.advertise_address", m))?,
        text => {
            check_host_port(text).map_err(|m| invalid("server.advertise_address", m))?;
            text.to_owned()
        }
    };
    let mut namespaces: Vec<String> = Vec::new();
    for ns in &s.namespaces {
        let ns = ns.trim();
        if ns.is_empty() {
            return Err(invalid("server.namespaces", "namespace names must not be empty".into()));
        }
        if !namespaces.iter().any(|n| n == ns) {
            namespaces.push(ns.to_owned());
        }
    }
    let mut search_attributes = Vec::new();
    for (name, ty) in &s.search_attributes {
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(invalid_sa(
                name,
                format!("invalid search attribute name {name:?}: use letters, digits, '_' or '-'"),
            ));
        }
        let ty = SaType::ALL.into_iter().find(|t| type_name(*t).eq_ignore_ascii_case(ty.trim())).ok_or_else(
            || invalid_sa(name, format!("unknown search attribute type {ty:?} (expected one of {SA_TYPES})")),
        )?;
        search_attributes.push((name.clone(), ty));
    }
    let server = ServerSection {
        listen,
        internal_listen,
        http_listen,
        advertise_address,
        namespaces,
        search_attributes,
    };

    // [log]
    let format = match raw.log.format.trim().to_ascii_lowercase().as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => {
            return Err(invalid(
                "log.format",
                format!("expected \"text\" or \"json\", got {:?}", raw.log.format),
            ));
        }
    };
    let level = match raw.log.level.trim().to_ascii_lowercase().as_str() {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => {
            return Err(invalid(
                "log.level",
                format!("expected one of error, warn, info, debug, trace, got {:?}", raw.log.level),
            ));
        }
    };
    let log = LogSection { format, level };

    // [storage]
    let st = raw.storage;
    let backend = match st.backend.trim().to_ascii_lowercase().as_str() {
        "postgres" => Backend::Postgres,
        "sqlite" => Backend::Sqlite,
        _ => {
            return Err(invalid(
                "storage.backend",
                format!("expected \"postgres\" or \"sqlite\", got {:?}", st.backend),
            ));
        }
    };
    if backend == Backend::Sqlite && st.sqlite.path.trim().is_empty() {
        return Err(invalid(
            "storage.sqlite.path",
            "must not be empty when storage.backend = \"sqlite\"".into(),
        ));
    }
    let pg = st.postgres;
    if backend == Backend::Postgres {
        for (key, value) in [
            ("storage.postgres.host", &pg.host),
            ("storage.postgres.database", &pg.database),
            ("storage.postgres.user", &pg.user),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(key, "must not be empty when storage.backend = \"postgres\"".into()));
            }
        }
        if pg.port == 0 {
            return Err(invalid("storage.postgres.port", "must not be 0".into()));
        }
    }
    if !(1..=1000).contains(&pg.max_connections) {
        return Err(invalid(
            "storage.postgres.max_connections",
            format!("must be between 1 and 1000, got {}", pg.max_connections),
        ));
    }
    if pg.connect_timeout_ms == 0 {
        return Err(invalid("storage.postgres.connect_timeout_ms", "must be at least 1".into()));
    }
    let password_file = Some(pg.password_file.trim()).filter(|p| !p.is_empty()).map(PathBuf::from);
    let password = match (&password_file, pg.password.is_empty()) {
        (Some(_), false) => {
            return Err(invalid(
                "storage.postgres.password",
                format!(
                    "set together with storage.postgres.password_file ({}); set only one",
                    origins.of("storage.postgres.password_file")
                ),
            ));
        }
        (Some(path), true) => {
            let origin = origins.of("storage.postgres.password_file");
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::PasswordFile {
                path: path.clone(),
                origin: origin.clone(),
                error,
            })?;
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(invalid(
                    "storage.postgres.password_file",
                    format!("{} is empty", path.display()),
                ));
            }
            Some(Secret::new(password))
        }
        (None, false) => Some(Secret::new(pg.password)),
        (None, true) => None,
    };
    let storage = StorageSection {
        backend,
        auto_migrate: st.auto_migrate,
        sqlite: SqliteSection { path: PathBuf::from(st.sqlite.path.trim()) },
        postgres: PostgresSection {
            host: pg.host.trim().to_owned(),
            port: pg.port,
            database: pg.database.trim().to_owned(),
            user: pg.user.trim().to_owned(),
            password,
            password_file,
            max_connections: pg.max_connections,
            connect_timeout_ms: pg.connect_timeout_ms,
        },
    };

    // [cluster]
    let c = raw.cluster;
    if !(1..=4096).contains(&c.shards) {
        return Err(invalid("cluster.shards", format!("must be between 1 and 4096, got {}", c.shards)));
    }
    if c.heartbeat_interval_ms < 100 {
        return Err(invalid(
            "cluster.heartbeat_interval_ms",
            format!("must be at least 100, got {}", c.heartbeat_interval_ms),
        ));
    }
    if c.member_ttl_ms <= c.heartbeat_interval_ms.saturating_mul(2) {
        return Err(invalid(
            "cluster.member_ttl_ms",
            format!(
                "must be more than twice cluster.heartbeat_interval_ms ({}), got {}",
                c.heartbeat_interval_ms, c.member_ttl_ms
            ),
        ));
    }
    let cluster = ClusterSection {
        shards: c.shards,
        heartbeat_interval_ms: c.heartbeat_interval_ms,
        member_ttl_ms: c.member_ttl_ms,
    };

    Ok(Config { server, log, storage, cluster })
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("expected IP:PORT such as \"0.0.0.0:7233\" or \"[::]:7233\", got {text:?}"))
}

/// Whether two listeners cannot both bind: same port (not 0, which picks a free one) on the
/// same IP, or on any IP when either is unspecified (0.0.0.0 or ::).
fn addresses_clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Checks `host:port` (IPv6 hosts in brackets).
fn check_host_port(text: &str) -> Result<(), String> {
    let expected =
        || format!("expected HOST:PORT such as \"endure-0.endure:7234\" or \"10.0.0.5:7234\", got {text:?}");
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let port: u16 = port.parse().map_err(|_| expected())?;
    if port == 0 {
        return Err(format!("port must not be 0, got {text:?}"));
    }
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !host_ok {
        if host.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(format!("an IPv6 address needs brackets, as in \"[fd00::1]:7234\", got {text:?}"));
        }
        return Err(expected());
    }
    Ok(())
}

/// The advertise address when none is configured: `internal_listen` itself, unless its IP is
/// unspecified (0.0.0.0 or ::), in which case the machine's hostname with its port.
fn derive_advertise_address(
    internal_listen: SocketAddr,
    hostname: impl FnOnce() -> Option<String>,
) -> Result<String, String> {
    if !internal_listen.ip().is_unspecified() {
        return Ok(internal_listen.to_string());
    }
    let host = hostname().ok_or_else(|| {
        format!(
            "cannot derive it: server.internal_listen ({internal_listen}) has no specific IP and the machine's hostname is unknown; set it"
        )
    })?;
    Ok(format!("{host}:{}", internal_listen.port()))
}

fn machine_hostname() -> Option<String> {
    let name = gethostname::gethostname().to_string_lossy().trim().to_owned();
    (!name.is_empty()).then_some(name)
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const DOCS: &str = include_str!("../../../docs/configuration.md");

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_str_with_env(text, env(pairs))
    }

    fn err(text: &str, pairs: &[(&str, &str)]) -> String {
        load(text, pairs).expect_err("expected an error").to_string()
    }

    /// A directory under the system temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A file under a fresh temporary directory (removed when the returned guard drops).
    fn temp_file(name: &str, contents: &str) -> (TempDir, PathBuf) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("endure-config-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        (TempDir(dir), path)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c.server.listen, addr("0.0.0.0:7233"));
        assert_eq!(c.server.internal_listen, addr("0.0.0.0:7234"));
        assert_eq!(c.server.http_listen, Some(addr("0.0.0.0:7243")));
        assert!(c.server.advertise_address.ends_with(":7234"), "{}", c.server.advertise_address);
        assert!(c.server.advertise_address.len() > ":7234".len());
        assert_eq!(c.server.namespaces, vec!["default".to_string()]);
        assert!(c.server.search_attributes.is_empty());
        assert_eq!(c.log, LogSection { format: LogFormat::Text, level: LogLevel::Info });
        assert_eq!(c.storage.backend, Backend::Postgres);
        assert!(!c.storage.auto_migrate);
        assert_eq!(c.storage.sqlite.path, PathBuf::from("endure.db"));
        let pg = &c.storage.postgres;
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.database.as_str(), pg.user.as_str()),
            ("localhost", 5432, "endure", "endure")
        );
        assert_eq!(pg.password, None);
        assert_eq!(pg.password_file, None);
        assert_eq!(pg.max_connections, 16);
        assert_eq!(pg.connect_timeout(), Duration::from_secs(5));
        assert_eq!(
            c.cluster,
            ClusterSection { shards: 16, heartbeat_interval_ms: 1000, member_ttl_ms: 5000 }
        );
        assert_eq!(c.cluster.heartbeat_interval(), Duration::from_secs(1));
        assert_eq!(c.cluster.member_ttl(), Duration::from_secs(5));
        // An empty file is the same as no file.
        assert_eq!(load("", &[]).unwrap(), c);
    }

    #[test]
    fn full_file() {
        let text = r#"
[server]
listen = "127.0.0.1:8233"
internal_listen = "10.1.2.3:8234"
http_listen = ""
advertise_address = "endure-0.endure.svc:8234"
namespaces = ["default", "orders", "orders"]
search_attributes = { CustomerId = "keyword", Amount = "Double", Tags = "KeywordList" }

[log]
format = "JSON"
level = "debug"

[storage]
backend = "sqlite"
auto_migrate = true

[storage.sqlite]
path = "/var/lib/endure/endure.db"

[storage.postgres]
host = "db"
port = 6543
database = "d"
user = "u"
password = "hunter2"
max_connections = 100
connect_timeout_ms = 250

[cluster]
shards = 64
heartbeat_interval_ms = 500
member_ttl_ms = 1001
"#;
        let c = load(text, &[]).unwrap();
        assert_eq!(c.server.listen, addr("127.0.0.1:8233"));
        assert_eq!(c.server.internal_listen, addr("10.1.2.3:8234"));
        assert_eq!(c.server.http_listen, None);
        assert_eq!(c.server.advertise_address, "endure-0.endure.svc:8234");
        assert_eq!(c.server.namespaces, vec!["default".to_string(), "orders".to_string()]);
        assert_eq!(
            c.server.search_attributes,
            vec![
                ("Amount".to_string(), SaType::Double),
                ("CustomerId".to_string(), SaType::Keyword),
                ("Tags".to_string(), SaType::KeywordList),
            ]
        );
        assert_eq!(c.log, LogSection { format: LogFormat::Json, level: LogLevel::Debug });
        assert_eq!(c.log.level.as_str(), "debug");
        assert_eq!(c.storage.backend, Backend::Sqlite);
        assert!(c.storage.auto_migrate);
        assert_eq!(c.storage.sqlite.path, PathBuf::from("/var/lib/endure/endure.db"));
        let pg = &c.storage.postgres;
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.database.as_str(), pg.user.as_str()),
            ("db", 6543, "d", "u")
        );
        assert_eq!(pg.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert_eq!((pg.max_connections, pg.connect_timeout_ms), (100, 250));
        assert_eq!(c.cluster, ClusterSection { shards: 64, heartbeat_interval_ms: 500, member_ttl_ms: 1001 });
    }

    #[test]
    fn advertise_address_is_derived() {
        let host = || Some("node-7".to_string());
        assert_eq!(derive_advertise_address(addr("0.0.0.0:7234"), host).unwrap(), "node-7:7234");
        assert_eq!(derive_advertise_address(addr("[::]:9000"), host).unwrap(), "node-7:9000");
        assert_eq!(derive_advertise_address(addr("10.0.0.5:7234"), host).unwrap(), "10.0.0.5:7234");
        assert_eq!(derive_advertise_address(addr("[fd00::5]:7234"), host).unwrap(), "[fd00::5]:7234");
        let e = derive_advertise_address(addr("0.0.0.0:7234"), || None).unwrap_err();
        assert!(e.contains("hostname"), "{e}");
        let c = load("[server]\ninternal_listen = \"127.0.0.1:7300\"", &[]).unwrap();
        assert_eq!(c.server.advertise_address, "127.0.0.1:7300");
    }

    #[test]
    fn unknown_key_names_dotted_path_and_file() {
        let (_dir, path) = temp_file("endure.toml", "[storage.postgres]\nhost = \"db\"\nhots = \"db\"\n");
        let e = Config::load(Some(&path), Vec::new()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unknown key \"storage.postgres.hots\""), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("line 3, column 1"), "{msg}");
        assert!(msg.contains("did you mean storage.postgres.host?"), "{msg}");

        // Dotted keys, unknown sections and top-level keys too.
        let msg = err("storage.postgres.hots = 1", &[]);
        assert!(msg.contains("unknown key \"storage.postgres.hots\""), "{msg}");
        assert!(err("[stroage]\nbackend = \"sqlite\"", &[]).contains("unknown key \"stroage\""));
        assert!(err("shards = 3", &[]).contains("unknown key \"shards\""));
    }

    #[test]
    fn wrong_type_in_file_names_key() {
        let msg = err("[cluster]\nshards = \"many\"", &[]);
        assert!(msg.contains("cluster.shards at line 2, column 1: expected an integer"), "{msg}");
        let msg = err("[storage.postgres]\nport = 70000", &[]);
        assert!(msg.contains("storage.postgres.port") && msg.contains("between 0 and 65535"), "{msg}");
        let msg = err("server = 1", &[]);
        assert!(msg.contains("server") && msg.contains("expected a table"), "{msg}");
        let msg = err("[server]\nnamespaces = [1]", &[]);
        assert!(msg.contains("server.namespaces") && msg.contains("a list of strings"), "{msg}");
        let msg = err("[server]\nsearch_attributes = { A = 1 }", &[]);
        assert!(msg.contains("server.search_attributes"), "{msg}");
        // Never the value itself.
        let msg = err("[storage.postgres]\npassword = 12345678", &[]);
        assert!(msg.contains("storage.postgres.password") && !msg.contains("12345678"), "{msg}");
    }

    #[test]
    fn syntax_error_has_position_but_not_the_line() {
        let (_dir, path) = temp_file("bad.toml", "[storage.postgres]\npassword = \"s3cret\n");
        let msg = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(msg.contains("bad.toml") && msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let path = std::env::temp_dir().join("endure-config-test-does-not-exist.toml");
        let msg = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
        assert!(msg.contains("endure-config-test-does-not-exist.toml"), "{msg}");
    }

    #[test]
    fn env_overrides_nested_keys_and_lists() {
        let text = "[storage.postgres]\nhost = \"from-file\"\nport = 5433\n[server]\nnamespaces = [\"a\"]";
        let c = load(
            text,
            &[
                ("ENDURE_STORAGE_POSTGRES_HOST", "from-env"),
                ("ENDURE_CLUSTER_SHARDS", " 32 "),
                ("ENDURE_SERVER_NAMESPACES", "default, orders,,billing"),
                ("ENDURE_SERVER_SEARCH_ATTRIBUTES", "CustomerId=Keyword, Amount=int"),
                ("ENDURE_STORAGE_AUTO_MIGRATE", "TRUE"),
                ("ENDURE_LOG_FORMAT", "json"),
                ("ENDURE_SERVER_HTTP_LISTEN", ""),
                ("ENDURE_SERVER_ADVERTISE_ADDRESS", "10.0.0.7:7234"),
                ("PATH", "/usr/bin"),
            ],
        )
        .unwrap();
        assert_eq!(c.storage.postgres.host, "from-env");
        assert_eq!(c.storage.postgres.port, 5433, "untouched keys keep the file's value");
        assert_eq!(c.cluster.shards, 32);
        assert_eq!(c.server.namespaces, vec!["default", "orders", "billing"]);
        assert_eq!(
            c.server.search_attributes,
            vec![("Amount".to_string(), SaType::Int), ("CustomerId".to_string(), SaType::Keyword)]
        );
        assert!(c.storage.auto_migrate);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.server.http_listen, None);
        assert_eq!(c.server.advertise_address, "10.0.0.7:7234");

        // Without a file, too.
        let c = Config::load(None, env(&[("ENDURE_STORAGE_BACKEND", "sqlite")])).unwrap();
        assert_eq!(c.storage.backend, Backend::Sqlite);
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let msg = err("", &[("ENDURE_CLUSTER_SHARDS", "abc")]);
        assert_eq!(msg, "ENDURE_CLUSTER_SHARDS: expected an integer, got \"abc\"");
        let msg = err("", &[("ENDURE_STORAGE_POSTGRES_PORT", "-1")]);
        assert!(
            msg.starts_with("ENDURE_STORAGE_POSTGRES_PORT: expected an integer between 0 and 65535"),
            "{msg}"
        );
        let msg = err("", &[("ENDURE_STORAGE_AUTO_MIGRATE", "yes please")]);
        assert!(msg.starts_with("ENDURE_STORAGE_AUTO_MIGRATE: expected true or false"), "{msg}");
        let msg = err("", &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "A=Int,B")]);
        assert!(msg.starts_with("ENDURE_SERVER_SEARCH_ATTRIBUTES: expected NAME=TYPE"), "{msg}");
        // Validation of env values says where the value came from.
        let msg = err("", &[("ENDURE_CLUSTER_SHARDS", "0")]);
        assert!(msg.contains("cluster.shards") && msg.contains("from ENDURE_CLUSTER_SHARDS"), "{msg}");
        let msg = err("", &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "A=Float")]);
        assert!(
            msg.contains("server.search_attributes.A")
                && msg.contains("from ENDURE_SERVER_SEARCH_ATTRIBUTES"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_endure_env_var_is_rejected() {
        let msg = err("", &[("ENDURE_STORAGE_POSTGRES_HOTS", "db")]);
        assert!(msg.contains("unknown environment variable ENDURE_STORAGE_POSTGRES_HOTS"), "{msg}");
        assert!(msg.contains("did you mean ENDURE_STORAGE_POSTGRES_HOST?"), "{msg}");
        assert!(err("", &[("ENDURE_STORAGE", "x")]).contains("ENDURE_STORAGE"));

        assert!(check_unknown_env([("ENDURE_LOG_LEVELL", "debug")]).is_err());
        assert!(
            check_unknown_env([
                ("ENDURE_TEST_TARGET", "x"),
                ("ENDURE_BIN", "x"),
                ("ENDURE_BENCH_BIN", "x"),
                ("ENDURE_SKIP_CARGO", "1"),
                ("ENDURE_ADDRESS", "x"),
                ("ENDURE_NAMESPACE", "x"),
                ("ENDURE_TASK_QUEUE", "x"),
                ("ENDURE_EXAMPLE_DIR", "x"),
                ("ENDURE_LOG_LEVEL", "debug"),
                ("HOME", "/root"),
            ])
            .is_ok()
        );
        // Allowlisted variables are ignored by load as well.
        assert!(load("", &[("ENDURE_TEST_TARGET", "x"), ("ENDURE_BIN", "/bin/endure")]).is_ok());
    }

    #[test]
    fn env_var_names_are_unique() {
        let mut names: Vec<String> = KEYS.iter().map(Key::env_var).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        assert_eq!(key("cluster.shards").unwrap().env_var(), "ENDURE_CLUSTER_SHARDS");
        assert_eq!(
            key("storage.postgres.password_file").unwrap().env_var(),
            "ENDURE_STORAGE_POSTGRES_PASSWORD_FILE"
        );
    }

    #[test]
    fn password_file_is_read_without_trailing_newline() {
        let (_dir, secret) = temp_file("password", "p4ss word\n");
        let text = format!("[storage.postgres]\npassword_file = {:?}", secret.display().to_string());
        let c = load(&text, &[]).unwrap();
        assert_eq!(c.storage.postgres.password.as_ref().unwrap().expose(), "p4ss word");
        assert_eq!(c.storage.postgres.password_file.as_deref(), Some(secret.as_path()));

        let (_dir2, crlf) = temp_file("password", "abc\r\n");
        let var = crlf.display().to_string();
        let c = load("", &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", &var)]).unwrap();
        assert_eq!(c.storage.postgres.password.unwrap().expose(), "abc");

        let (_dir3, empty) = temp_file("password", "\n");
        let var = empty.display().to_string();
        let msg = err("", &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", &var)]);
        assert!(msg.contains("storage.postgres.password_file") && msg.contains("is empty"), "{msg}");
    }

    #[test]
    fn unreadable_password_file_names_key_and_path() {
        let missing = std::env::temp_dir().join("endure-config-test-missing-password");
        let var = missing.display().to_string();
        let msg = err("", &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", &var)]);
        assert!(msg.contains("storage.postgres.password_file"), "{msg}");
        assert!(msg.contains(&var), "{msg}");
        assert!(msg.contains("from ENDURE_STORAGE_POSTGRES_PASSWORD_FILE"), "{msg}");
    }

    #[test]
    fn password_and_password_file_conflict() {
        let (_dir, secret) = temp_file("password", "from-file\n");
        let var = secret.display().to_string();
        let msg = err(
            "[storage.postgres]\npassword = \"topsecret\"",
            &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", &var)],
        );
        assert!(msg.contains("storage.postgres.password") && msg.contains("password_file"), "{msg}");
        assert!(!msg.contains("topsecret") && !msg.contains("from-file\n"), "{msg}");
        // An empty override unsets the file's password_file.
        let text = format!("[storage.postgres]\npassword_file = {var:?}");
        let c = load(
            &text,
            &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", ""), ("ENDURE_STORAGE_POSTGRES_PASSWORD", "x")],
        )
        .unwrap();
        assert_eq!(c.storage.postgres.password.unwrap().expose(), "x");
        assert_eq!(c.storage.postgres.password_file, None);
    }

    #[test]
    fn debug_redacts_the_password() {
        let c = load("[storage.postgres]\npassword = \"hunter2-very-secret\"", &[]).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2-very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let pretty = format!("{c:#?}");
        assert!(!pretty.contains("hunter2-very-secret"));
        let c = load("", &[("ENDURE_STORAGE_POSTGRES_PASSWORD", "env-secret-value")]).unwrap();
        assert!(!format!("{c:?}").contains("env-secret-value"));
        assert_eq!(c.storage.postgres.password.unwrap().expose(), "env-secret-value");
    }

    /// Asserts that loading `text` fails naming `key` and containing `part`.
    #[track_caller]
    fn invalid(text: &str, key: &str, part: &str) {
        let msg = err(text, &[]);
        assert!(msg.starts_with(&format!("{key}: ")), "expected an error about {key}, got: {msg}");
        assert!(msg.contains(part), "expected {part:?} in: {msg}");
    }

    #[test]
    fn validation_storage() {
        invalid("[storage]\nbackend = \"mysql\"", "storage.backend", "\"mysql\"");
        invalid(
            "[storage]\nbackend = \"sqlite\"\n[storage.sqlite]\npath = \"\"",
            "storage.sqlite.path",
            "must not be empty",
        );
        // The other backend's settings are not checked.
        assert!(load("[storage]\nbackend = \"sqlite\"\n[storage.postgres]\nhost = \"\"", &[]).is_ok());
        assert!(load("[storage.sqlite]\npath = \"\"", &[]).is_ok());
        for key in ["host", "database", "user"] {
            invalid(
                &format!("[storage.postgres]\n{key} = \" \""),
                &format!("storage.postgres.{key}"),
                "must not be empty",
            );
        }
        invalid("[storage.postgres]\nport = 0", "storage.postgres.port", "must not be 0");
        invalid(
            "[storage.postgres]\nmax_connections = 0",
            "storage.postgres.max_connections",
            "between 1 and 1000",
        );
        invalid(
            "[storage.postgres]\nmax_connections = 1001",
            "storage.postgres.max_connections",
            "between 1 and 1000",
        );
        assert!(load("[storage.postgres]\nmax_connections = 1000", &[]).is_ok());
        assert!(load("[storage.postgres]\nmax_connections = 1", &[]).is_ok());
        invalid(
            "[storage.postgres]\nconnect_timeout_ms = 0",
            "storage.postgres.connect_timeout_ms",
            "at least 1",
        );
    }

    #[test]
    fn validation_cluster() {
        invalid("[cluster]\nshards = 0", "cluster.shards", "between 1 and 4096, got 0");
        invalid("[cluster]\nshards = 4097", "cluster.shards", "between 1 and 4096, got 4097");
        assert!(load("[cluster]\nshards = 4096", &[]).is_ok());
        assert!(load("[cluster]\nshards = 1", &[]).is_ok());
        invalid(
            "[cluster]\nheartbeat_interval_ms = 99\nmember_ttl_ms = 1000",
            "cluster.heartbeat_interval_ms",
            "at least 100",
        );
        invalid(
            "[cluster]\nheartbeat_interval_ms = 1000\nmember_ttl_ms = 2000",
            "cluster.member_ttl_ms",
            "more than twice",
        );
        // The origin is the file position.
        invalid("[cluster]\nshards = 0", "cluster.shards", "(in <config> line 2, column 1)");
        // A default heartbeat with a too-short TTL.
        invalid("[cluster]\nmember_ttl_ms = 1500", "cluster.member_ttl_ms", "(1000)");
        assert!(load("[cluster]\nheartbeat_interval_ms = 100\nmember_ttl_ms = 201", &[]).is_ok());
    }

    #[test]
    fn validation_log() {
        invalid("[log]\nlevel = \"verbose\"", "log.level", "\"verbose\"");
        invalid("[log]\nformat = \"xml\"", "log.format", "\"xml\"");
        for level in ["error", "warn", "INFO", "debug", "trace"] {
            let c = load(&format!("[log]\nlevel = {level:?}"), &[]).unwrap();
            assert_eq!(c.log.level.as_str(), level.to_ascii_lowercase());
        }
    }

    #[test]
    fn validation_listeners() {
        invalid("[server]\nlisten = \"localhost:7233\"", "server.listen", "IP:PORT");
        invalid("[server]\ninternal_listen = \"7234\"", "server.internal_listen", "IP:PORT");
        invalid("[server]\nhttp_listen = \"0.0.0.0\"", "server.http_listen", "IP:PORT");
        invalid(
            "[server]\nlisten = \"0.0.0.0:7233\"\ninternal_listen = \"0.0.0.0:7233\"",
            "server.internal_listen",
            "clashes with server.listen",
        );
        invalid(
            "[server]\nlisten = \"127.0.0.1:7233\"\nhttp_listen = \"0.0.0.0:7233\"",
            "server.http_listen",
            "clashes with server.listen",
        );
        invalid(
            "[server]\ninternal_listen = \"10.0.0.1:9000\"\nhttp_listen = \"10.0.0.1:9000\"",
            "server.http_listen",
            "clashes with server.internal_listen",
        );
        // Same port on different specific IPs, or port 0 everywhere, is fine.
        let c = load(
            "[server]\nlisten = \"127.0.0.1:7233\"\ninternal_listen = \"127.0.0.2:7233\"\nhttp_listen = \"\"",
            &[],
        )
        .unwrap();
        assert_eq!(c.server.listen.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(
            load(
                "[server]\nlisten = \"127.0.0.1:0\"\ninternal_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"",
                &[]
            )
            .is_ok()
        );
        assert_eq!(load("[server]\nlisten = \"[::1]:7233\"", &[]).unwrap().server.listen, addr("[::1]:7233"));
    }

    #[test]
    fn validation_advertise_address() {
        for good in ["endure-0.endure.svc:7234", "10.0.0.5:7234", "[fd00::5]:7234", "node_1:1"] {
            let text = format!("[server]\nadvertise_address = {good:?}");
            assert_eq!(load(&text, &[]).unwrap().server.advertise_address, good);
        }
        for (bad, part) in [
            ("endure-0", "HOST:PORT"),
            ("endure-0:", "HOST:PORT"),
            (":7234", "HOST:PORT"),
            ("host:port", "HOST:PORT"),
            ("host:0", "must not be 0"),
            ("host:70000", "HOST:PORT"),
            ("fd00::5:7234", "brackets"),
            ("http://host:7234", "HOST:PORT"),
        ] {
            invalid(&format!("[server]\nadvertise_address = {bad:?}"), "server.advertise_address", part);
        }
    }

    #[test]
    fn validation_server_lists() {
        invalid("[server]\nnamespaces = [\"\"]", "server.namespaces", "must not be empty");
        let msg = err("[server.search_attributes]\nCustomerId = \"Float\"", &[]);
        assert!(
            msg.starts_with("server.search_attributes.CustomerId: unknown search attribute type"),
            "{msg}"
        );
        let msg = err("[server.search_attributes]\n\"1x\" = \"Int\"", &[]);
        assert!(msg.contains("invalid search attribute name"), "{msg}");
        // No namespace at all is allowed: the server always has "default".
        assert!(load("[server]\nnamespaces = []", &[]).unwrap().server.namespaces.is_empty());
    }

    #[test]
    fn docs_cover_every_key() {
        for key in KEYS {
            assert!(DOCS.contains(&format!("`{}`", key.path)), "docs/configuration.md lacks `{}`", key.path);
            assert!(DOCS.contains(&key.env_var()), "docs/configuration.md lacks {}", key.env_var());
        }
        for var in ENV_ALLOWLIST {
            assert!(DOCS.contains(var), "docs/configuration.md lacks the allowlisted {var}");
        }
    }

    #[test]
    fn docs_example_is_valid_and_matches_the_defaults() {
        // The first ```toml block is the complete example with every default.
        let start = DOCS.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
        let end = start + DOCS[start..].find("```").unwrap();
        let example = &DOCS[start..end];
        let parsed = load(example, &[]).unwrap();
        assert_eq!(parsed, Config::load(None, Vec::new()).unwrap());
        // It sets every key.
        let tree: toml::Table = example.parse().unwrap();
        for key in KEYS {
            let mut value = Some(&tree);
            let mut found = false;
            let parts: Vec<&str> = key.path.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                let entry = value.and_then(|t| t.get(*part));
                if i + 1 == parts.len() {
                    found = entry.is_some();
                } else {
                    value = entry.and_then(toml::Value::as_table);
                }
            }
            assert!(found, "the example in docs/configuration.md lacks {}", key.path);
        }
    }
}
