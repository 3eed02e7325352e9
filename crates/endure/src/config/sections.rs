//! The configuration's sections: one typed struct per TOML table, its defaults (stated here
//! and nowhere else) and the rules its values must follow.
//!
//! Serde reads the values (types, unknown keys, enum names); each section's `validate` checks
//! what types cannot say and completes what is derived (the advertise address, the password
//! read from `password_file`). A section does not know where its values came from: the loader
//! adds that to the [`Invalid`] it returns.

use endure_server::dynamic_config::DynamicConfig;
use endure_server::search_attributes::schema::{self, SaType};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value that breaks a rule: its dotted key and what is wrong.
#[derive(Debug)]
pub struct Invalid {
    /// The dotted key, e.g. `cluster.shards`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { key, message: message.into() }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// `server.listen`: client gRPC (Temporal API) address.
    #[serde(deserialize_with = "text::trimmed")]
    pub listen: SocketAddr,
    /// `server.internal_listen`: replica-to-replica gRPC address.
    #[serde(deserialize_with = "text::trimmed")]
    pub internal_listen: SocketAddr,
    /// `server.http_listen`: Temporal's HTTP API and the `/healthz` and `/readyz` probes;
    /// `None` when disabled (empty).
    #[serde(with = "text::optional")]
    pub http_listen: Option<SocketAddr>,
    /// `server.advertise_address`: the `host:port` other replicas use to reach
    /// `internal_listen`. Always set after validation: when the key is empty it is derived from
    /// `internal_listen` (the machine's hostname and its port if its IP is unspecified, else
    /// `internal_listen`).
    #[serde(deserialize_with = "text::trimmed")]
    pub advertise_address: String,
    /// `server.namespaces`: namespaces created at start-up if missing (duplicates removed).
    pub namespaces: Vec<String>,
    /// `server.search_attributes`: custom search attributes registered at start-up in those
    /// namespaces, sorted by name.
    #[serde(with = "declarations")]
    pub search_attributes: Vec<(String, SaType)>,
    /// `server.dynamic_config`: dynamic config values, `KEY = VALUE` as `temporal server
    /// start-dev --dynamic-config-value KEY=VALUE` takes them (VALUE the JSON text; in the file a
    /// bare number or boolean is that value), in the order given.
    #[serde(with = "dynamic_values")]
    pub dynamic_config: Vec<(String, String)>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([0, 0, 0, 0], 7233)),
            internal_listen: SocketAddr::from(([0, 0, 0, 0], 7234)),
            http_listen: Some(SocketAddr::from(([0, 0, 0, 0], 7243))),
            advertise_address: String::new(),
            namespaces: vec!["default".into()],
            search_attributes: Vec::new(),
            dynamic_config: Vec::new(),
        }
    }
}

impl ServerSection {
    /// Checks that the listeners can all bind, derives or checks the advertise address, and
    /// trims and de-duplicates the namespaces.
    pub fn validate(&mut self) -> Result<(), Invalid> {
        check_listeners(&self.listeners())?;
        if self.advertise_address.is_empty() {
            self.advertise_address = derive_advertise_address(self.internal_listen, machine_hostname)
                .map_err(|m| invalid("server.advertise_address", m))?;
        } else {
            check_host_port(&self.advertise_address).map_err(|m| invalid("server.advertise_address", m))?;
        }
        let mut namespaces: Vec<String> = Vec::new();
        for ns in self.namespaces.iter().map(|ns| ns.trim()) {
            if ns.is_empty() {
                return Err(invalid("server.namespaces", "namespace names must not be empty"));
            }
            if !namespaces.iter().any(|n| n == ns) {
                namespaces.push(ns.to_owned());
            }
        }
        self.namespaces = namespaces;
        self.dynamic().map_err(|m| invalid("server.dynamic_config", m))?;
        Ok(())
    }

    /// The dynamic config these values make, and the keys given that Endure does not honour.
    pub fn dynamic(&self) -> Result<(DynamicConfig, Vec<String>), String> {
        let mut dynamic = DynamicConfig::default();
        let mut not_honoured = Vec::new();
        for (key, value) in &self.dynamic_config {
            if !dynamic.set(key, value)? {
                not_honoured.push(key.clone());
            }
        }
        Ok((dynamic, not_honoured))
    }

    /// The listeners of this section, by key.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut listeners =
            vec![("server.listen", self.listen), ("server.internal_listen", self.internal_listen)];
        listeners.extend(self.http_listen.map(|a| ("server.http_listen", a)));
        listeners
    }
}

/// Fails on the first listener whose address clashes with an earlier one's.
pub fn check_listeners(listeners: &[(&'static str, SocketAddr)]) -> Result<(), Invalid> {
    for (i, (key, addr)) in listeners.iter().enumerate() {
        if let Some((other, _)) = listeners[..i].iter().find(|(_, a)| addresses_clash(*a, *addr)) {
            return Err(invalid(
                key,
                format!("{addr} clashes with {other}; every listener needs its own port"),
            ));
        }
    }
    Ok(())
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// `metrics.listen`: the Prometheus endpoint's address (`/metrics`); `None` when disabled
    /// (empty, the default).
    #[serde(with = "text::optional")]
    pub listen: Option<SocketAddr>,
}

impl MetricsSection {
    /// The listeners of this section, by key.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listen.map(|a| ("metrics.listen", a)).into_iter().collect()
    }
}

/// `[ui]`: the Web UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSection {
    /// `ui.listen`: the Web UI's address (with the HTTP API under `/api/v1` on the same
    /// origin); `None` when disabled (empty, the default).
    #[serde(with = "text::optional")]
    pub listen: Option<SocketAddr>,
    /// `ui.codec_endpoint`: a remote codec endpoint the browser calls to decode payloads;
    /// empty for none.
    pub codec_endpoint: String,
    /// `ui.asset_path`: a folder with another UI build to serve instead of the built-in one;
    /// empty for the built-in UI.
    pub asset_path: String,
}

impl UiSection {
    /// The listeners of this section, by key.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listen.map(|a| ("ui.listen", a)).into_iter().collect()
    }

    /// Checks that an asset folder holds a UI build.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.asset_path.is_empty() && !std::path::Path::new(&self.asset_path).join("index.html").is_file()
        {
            return Err(invalid(
                "ui.asset_path",
                format!("{}: no index.html in that folder", self.asset_path),
            ));
        }
        Ok(())
    }
}

/// `[tracing]`: OpenTelemetry traces over OTLP. The standard `OTEL_*` environment variables
/// take precedence over these keys (see `crate::telemetry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingSection {
    /// `tracing.otlp_endpoint`: the OTLP collector's URL; empty (the default) turns tracing off.
    pub otlp_endpoint: String,
    /// `tracing.otlp_protocol`: `grpc` or `http/protobuf`.
    #[serde(deserialize_with = "text::any_case")]
    pub otlp_protocol: OtlpProtocol,
    /// `tracing.service_name`: the `service.name` of the spans.
    pub service_name: String,
}

impl Default for TracingSection {
    fn default() -> Self {
        TracingSection {
            otlp_endpoint: String::new(),
            otlp_protocol: OtlpProtocol::Grpc,
            service_name: "endure".into(),
        }
    }
}

/// `tracing.otlp_protocol`: how spans are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (port 4317 by convention).
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318 by convention, path `/v1/traces`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `log.format`.
    #[serde(deserialize_with = "text::any_case")]
    pub format: LogFormat,
    /// `log.level`.
    #[serde(deserialize_with = "text::any_case")]
    pub level: LogLevel,
}

/// `log.format`: how log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.level`: the most verbose level logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages and above.
    #[default]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// `storage.backend`.
    #[serde(deserialize_with = "text::any_case")]
    pub backend: Backend,
    /// `storage.auto_migrate`: apply schema migrations at start-up; when false the server
    /// refuses an out-of-date schema and asks for `endure migrate`.
    pub auto_migrate: bool,
    /// `[storage.sqlite]` (used when `backend` is [`Backend::Sqlite`]).
    pub sqlite: SqliteSection,
    /// `[storage.postgres]` (used when `backend` is [`Backend::Postgres`]).
    pub postgres: PostgresSection,
}

impl StorageSection {
    /// Checks the chosen backend's section (and reads the password file, if any).
    pub fn validate(&mut self) -> Result<(), Invalid> {
        self.sqlite.validate(self.backend == Backend::Sqlite)?;
        self.postgres.validate(self.backend == Backend::Postgres)
    }
}

/// `storage.backend`: which database holds the state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// PostgreSQL, shared by every replica of a cluster.
    #[default]
    Postgres,
    /// An embedded SQLite file (a single server).
    Sqlite,
}

/// `[storage.sqlite]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSection {
    /// `storage.sqlite.path`: the database file (relative paths are relative to the working
    /// directory).
    #[serde(deserialize_with = "text::trimmed")]
    pub path: PathBuf,
}

impl Default for SqliteSection {
    fn default() -> Self {
        SqliteSection { path: "endure.db".into() }
    }
}

impl SqliteSection {
    fn validate(&self, in_use: bool) -> Result<(), Invalid> {
        if in_use && self.path.as_os_str().is_empty() {
            return Err(invalid(
                "storage.sqlite.path",
                "must not be empty when storage.backend = \"sqlite\"",
            ));
        }
        Ok(())
    }
}

/// `[storage.postgres]`. Its `Debug` output redacts the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSection {
    /// `storage.postgres.host`.
    #[serde(deserialize_with = "text::trimmed")]
    pub host: String,
    /// `storage.postgres.port`.
    pub port: u16,
    /// `storage.postgres.database`.
    #[serde(deserialize_with = "text::trimmed")]
    pub database: String,
    /// `storage.postgres.user`.
    #[serde(deserialize_with = "text::trimmed")]
    pub user: String,
    /// The password: `storage.postgres.password`, or after validation the contents of
    /// `storage.postgres.password_file` without its trailing newline; empty when neither is set.
    pub password: Secret,
    /// `storage.postgres.password_file`, if set (read into `password` by validation).
    #[serde(with = "text::optional")]
    pub password_file: Option<PathBuf>,
    /// `storage.postgres.max_connections`: connection pool bound per replica (1..=1000).
    pub max_connections: u32,
    /// `storage.postgres.connect_timeout_ms`.
    pub connect_timeout_ms: u64,
}

impl Default for PostgresSection {
    fn default() -> Self {
        PostgresSection {
            host: "localhost".into(),
            port: 5432,
            database: "endure".into(),
            user: "endure".into(),
            password: Secret::default(),
            password_file: None,
            max_connections: 16,
            connect_timeout_ms: 5000,
        }
    }
}

impl PostgresSection {
    /// `connect_timeout_ms` as a [`Duration`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Checks the section (where to connect only when PostgreSQL is the backend) and reads
    /// `password_file` into `password`.
    fn validate(&mut self, in_use: bool) -> Result<(), Invalid> {
        if in_use {
            for (key, value) in [
                ("storage.postgres.host", &self.host),
                ("storage.postgres.database", &self.database),
                ("storage.postgres.user", &self.user),
            ] {
                if value.is_empty() {
                    return Err(invalid(key, "must not be empty when storage.backend = \"postgres\""));
                }
            }
            if self.port == 0 {
                return Err(invalid("storage.postgres.port", "must not be 0"));
            }
        }
        if !(1..=1000).contains(&self.max_connections) {
            let message = format!("must be between 1 and 1000, got {}", self.max_connections);
            return Err(invalid("storage.postgres.max_connections", message));
        }
        if self.connect_timeout_ms == 0 {
            return Err(invalid("storage.postgres.connect_timeout_ms", "must be at least 1"));
        }
        let Some(path) = &self.password_file else { return Ok(()) };
        if self.password.expose().is_some() {
            let message = "set together with storage.postgres.password_file; set only one";
            return Err(invalid("storage.postgres.password", message));
        }
        let key = "storage.postgres.password_file";
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(invalid(key, format!("{} is empty", path.display())));
        }
        self.password = Secret(password.to_owned());
        Ok(())
    }
}

/// A secret string (the database password), possibly empty. `Debug` prints `<redacted>` and it
/// serializes as `"<redacted>"` (or `""`); there is no `Display`, so reading it takes an explicit
/// [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself; `None` when it is empty (not set).
    pub fn expose(&self) -> Option<&str> {
        Some(self.0.as_str()).filter(|s| !s.is_empty())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}

/// `[cluster]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection { shards: 16, heartbeat_interval_ms: 1000, member_ttl_ms: 5000 }
    }
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

    /// Checks the shard count and that one late heartbeat cannot cause a takeover.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1..=4096).contains(&self.shards) {
            return Err(invalid(
                "cluster.shards",
                format!("must be between 1 and 4096, got {}", self.shards),
            ));
        }
        if self.heartbeat_interval_ms < 100 {
            let message = format!("must be at least 100, got {}", self.heartbeat_interval_ms);
            return Err(invalid("cluster.heartbeat_interval_ms", message));
        }
        if self.member_ttl_ms <= self.heartbeat_interval_ms.saturating_mul(2) {
            let message = format!(
                "must be more than twice cluster.heartbeat_interval_ms ({}), got {}",
                self.heartbeat_interval_ms, self.member_ttl_ms
            );
            return Err(invalid("cluster.member_ttl_ms", message));
        }
        Ok(())
    }
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
pub(super) fn derive_advertise_address(
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

/// Serde helpers for values written as text: blanks around them are ignored, and so is the
/// case of names ([`any_case`]); an optional value is `""` when unset ([`optional`]).
mod text {
    use serde::de::{DeserializeOwned, IntoDeserializer};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    fn parse<'de, D: Deserializer<'de>, T: DeserializeOwned>(text: &str) -> Result<T, D::Error> {
        T::deserialize(IntoDeserializer::<D::Error>::into_deserializer(text))
    }

    pub fn trimmed<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
        parse::<D, T>(String::deserialize(d)?.trim())
    }

    pub fn any_case<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
        parse::<D, T>(&String::deserialize(d)?.trim().to_ascii_lowercase())
    }

    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer, T: Serialize>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => value.serialize(s),
                None => s.serialize_str(""),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>, T: DeserializeOwned>(
            d: D,
        ) -> Result<Option<T>, D::Error> {
            match String::deserialize(d)?.trim() {
                "" => Ok(None),
                text => parse::<D, T>(text).map(Some),
            }
        }
    }
}

/// `server.search_attributes`: a table `NAME = "TYPE"`. Each declaration is parsed by the
/// server's one rule ([`schema::parse_declaration`]) as the value of its own key, so an error
/// names `server.search_attributes.NAME`.
mod declarations {
    use super::{SaType, schema};
    use serde::de::{DeserializeSeed, Error, MapAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(declarations: &[(String, SaType)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(declarations.iter().map(|(name, ty)| (name, schema::type_name(*ty))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, SaType)>, D::Error> {
        d.deserialize_map(Table)
    }

    struct Table;

    impl<'de> Visitor<'de> for Table {
        type Value = Vec<(String, SaType)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of NAME = \"TYPE\"")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut declarations = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                declarations.push(map.next_value_seed(Declaration(name))?);
            }
            declarations.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(declarations)
        }
    }

    /// The type of the attribute it names.
    struct Declaration(String);

    impl<'de> DeserializeSeed<'de> for Declaration {
        type Value = (String, SaType);

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            schema::parse_declaration(&self.0, &String::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

/// `server.dynamic_config`: a table `KEY = VALUE`. A string is the value's JSON text (what the
/// environment variable gives, and what `--dynamic-config-value` takes); a number or boolean
/// written bare in the file is that value.
mod dynamic_values {
    use serde::de::{Error, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(values: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(values.iter().map(|(k, v)| (k, v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        d.deserialize_map(Table)
    }

    struct Table;

    impl<'de> Visitor<'de> for Table {
        type Value = Vec<(String, String)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of KEY = VALUE")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut values = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let text = match map.next_value::<toml::Value>()? {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(x) => x.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(A::Error::custom(format!(
                            "{key}: expected a number, a boolean or a JSON text, got {other}"
                        )));
                    }
                };
                values.push((key, text));
            }
            Ok(values)
        }
    }
}
