//! The configuration's behaviour: layering, every rule, the messages' keys and origins, and
//! docs/configuration.md against the structs.

use super::sections::derive_advertise_address;
use super::*;
use endure_server::search_attributes::SaType;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const DOCS: &str = include_str!("../../../../docs/configuration.md");

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
    assert_eq!(c.metrics.listen, None, "metrics are off unless asked for");
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
    assert_eq!(pg.password.expose(), None);
    assert_eq!(pg.password_file, None);
    assert_eq!(pg.max_connections, 16);
    assert_eq!(pg.connect_timeout(), Duration::from_secs(5));
    assert_eq!(c.cluster, ClusterSection { shards: 16, heartbeat_interval_ms: 1000, member_ttl_ms: 5000 });
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
    assert_eq!((pg.host.as_str(), pg.port, pg.database.as_str(), pg.user.as_str()), ("db", 6543, "d", "u"));
    assert_eq!(pg.password.expose(), Some("hunter2"));
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
    assert!(msg.starts_with("storage.postgres.hots: unknown key"), "{msg}");
    assert!(msg.contains(&format!("(in {} line 3, column 1)", path.display())), "{msg}");
    // The keys it could have meant, from serde.
    assert!(msg.contains("expected one of host, port, database"), "{msg}");

    // Dotted keys, unknown sections and top-level keys too.
    let msg = err("storage.postgres.hots = 1", &[]);
    assert!(msg.starts_with("storage.postgres.hots: unknown key"), "{msg}");
    let msg = err("[stroage]\nbackend = \"sqlite\"", &[]);
    assert!(msg.starts_with("stroage: unknown key, expected one of server, log, storage, cluster"), "{msg}");
    assert!(err("shards = 3", &[]).starts_with("shards: unknown key"));
}

#[test]
fn wrong_type_in_file_names_key() {
    let msg = err("[cluster]\nshards = \"many\"", &[]);
    assert_eq!(
        msg,
        "cluster.shards: invalid type: found string \"many\", expected u32 (in <config> line 2, column 1)"
    );
    let msg = err("[storage.postgres]\nport = 70000", &[]);
    assert!(msg.starts_with("storage.postgres.port: invalid value") && msg.contains("expected u16"), "{msg}");
    let msg = err("server = 1", &[]);
    assert!(
        msg.starts_with("server: invalid type") && msg.contains("expected struct ServerSection"),
        "{msg}"
    );
    let msg = err("[server]\nnamespaces = [1]", &[]);
    assert!(
        msg.starts_with("server.namespaces.0: invalid type") && msg.contains("expected a string"),
        "{msg}"
    );
    assert!(msg.contains("(in <config> line 2, column 1)"), "{msg}");
    let msg = err("[server]\nsearch_attributes = { A = 1 }", &[]);
    assert!(msg.starts_with("server.search_attributes.A: invalid type"), "{msg}");
    let msg = err("[server]\nlisten = 7233", &[]);
    assert!(msg.starts_with("server.listen: invalid type") && msg.contains("expected a string"), "{msg}");
    // Never the value itself.
    let msg = err("[storage.postgres]\npassword = 12345678", &[]);
    assert_eq!(msg, "storage.postgres.password: expected a string (in <config> line 2, column 1)");
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

    // A variable replaces a list's or a table's whole value.
    let text = "[server]\nnamespaces = [\"a\"]\n[server.search_attributes]\nA = \"Int\"";
    let c = load(text, &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "B=Text"), ("ENDURE_SERVER_NAMESPACES", "b")])
        .unwrap();
    assert_eq!(c.server.search_attributes, vec![("B".to_string(), SaType::Text)]);
    assert_eq!(c.server.namespaces, vec!["b"]);

    // The file's own mistakes count even where a variable overrides the key.
    let msg = err("[cluster]\nshards = \"many\"", &[("ENDURE_CLUSTER_SHARDS", "4")]);
    assert!(msg.starts_with("cluster.shards: invalid type"), "{msg}");

    // Without a file, too.
    let c = Config::load(None, env(&[("ENDURE_STORAGE_BACKEND", "sqlite")])).unwrap();
    assert_eq!(c.storage.backend, Backend::Sqlite);
}

#[test]
fn bad_env_value_names_the_variable() {
    let msg = err("", &[("ENDURE_CLUSTER_SHARDS", "abc")]);
    assert_eq!(msg, "ENDURE_CLUSTER_SHARDS: expected an integer, got \"abc\"");
    let msg = err("", &[("ENDURE_STORAGE_POSTGRES_PORT", "-1")]);
    assert!(msg.starts_with("storage.postgres.port: invalid value signed int `-1`, expected u16"), "{msg}");
    assert!(msg.ends_with("(from ENDURE_STORAGE_POSTGRES_PORT)"), "{msg}");
    let msg = err("", &[("ENDURE_STORAGE_AUTO_MIGRATE", "yes please")]);
    assert!(msg.starts_with("ENDURE_STORAGE_AUTO_MIGRATE: expected true or false"), "{msg}");
    let msg = err("", &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "A=Int,B")]);
    assert!(msg.starts_with("ENDURE_SERVER_SEARCH_ATTRIBUTES: expected NAME=TYPE"), "{msg}");
    let msg = err("", &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "A=Int,A=Text")]);
    assert!(msg.starts_with("ENDURE_SERVER_SEARCH_ATTRIBUTES: expected each NAME once"), "{msg}");
    // Validation of env values says where the value came from.
    let msg = err("", &[("ENDURE_CLUSTER_SHARDS", "0")]);
    assert!(msg.contains("cluster.shards") && msg.contains("from ENDURE_CLUSTER_SHARDS"), "{msg}");
    let msg = err("", &[("ENDURE_SERVER_SEARCH_ATTRIBUTES", "A=Float")]);
    assert!(
        msg.contains("server.search_attributes.A") && msg.contains("from ENDURE_SERVER_SEARCH_ATTRIBUTES"),
        "{msg}"
    );
}

#[test]
fn unknown_endure_env_var_is_rejected() {
    let msg = err("", &[("ENDURE_STORAGE_POSTGRES_HOTS", "db")]);
    assert_eq!(
        msg,
        "unknown environment variable ENDURE_STORAGE_POSTGRES_HOTS: it sets no configuration key"
    );
    // A section is not a key.
    assert!(err("", &[("ENDURE_STORAGE", "x")]).contains("ENDURE_STORAGE:"));
    assert!(err("", &[("ENDURE_LOG_LEVELL", "debug")]).contains("ENDURE_LOG_LEVELL"));
    // The allowlisted project variables and other variables are ignored.
    let c = load(
        "",
        &[
            ("ENDURE_TEST_TARGET", "x"),
            ("ENDURE_BIN", "x"),
            ("ENDURE_BENCH_BIN", "x"),
            ("ENDURE_SKIP_CARGO", "1"),
            ("ENDURE_CONFIG", "endure.toml"),
            ("ENDURE_ADDRESS", "x"),
            ("ENDURE_NAMESPACE", "x"),
            ("ENDURE_TASK_QUEUE", "x"),
            ("ENDURE_EXAMPLE_DIR", "x"),
            ("ENDURE_LOG_LEVEL", "debug"),
            ("HOME", "/root"),
        ],
    )
    .unwrap();
    assert_eq!(c.log.level, LogLevel::Debug);
}

#[test]
fn env_var_names_are_unique() {
    let keys = keys();
    let mut names: Vec<String> = keys.iter().map(Key::env_var).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), keys.len());
    let var = |path: &str| keys.iter().find(|k| k.path == path).map(Key::env_var);
    assert_eq!(var("cluster.shards").as_deref(), Some("ENDURE_CLUSTER_SHARDS"));
    // Keys whose names hold `_` themselves.
    assert_eq!(
        var("storage.postgres.password_file").as_deref(),
        Some("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE")
    );
    assert_eq!(var("storage.auto_migrate").as_deref(), Some("ENDURE_STORAGE_AUTO_MIGRATE"));
    // A table-valued key is a key, not a section.
    assert_eq!(var("server.search_attributes").as_deref(), Some("ENDURE_SERVER_SEARCH_ATTRIBUTES"));
}

#[test]
fn password_file_is_read_without_trailing_newline() {
    let (_dir, secret) = temp_file("password", "p4ss word\n");
    let text = format!("[storage.postgres]\npassword_file = {:?}", secret.display().to_string());
    let c = load(&text, &[]).unwrap();
    assert_eq!(c.storage.postgres.password.expose(), Some("p4ss word"));
    assert_eq!(c.storage.postgres.password_file.as_deref(), Some(secret.as_path()));

    let (_dir2, crlf) = temp_file("password", "abc\r\n");
    let var = crlf.display().to_string();
    let c = load("", &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", &var)]).unwrap();
    assert_eq!(c.storage.postgres.password.expose(), Some("abc"));

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
    assert_eq!(
        msg,
        "storage.postgres.password: set together with storage.postgres.password_file; set only one (in <config> line 2, column 1)"
    );
    assert!(!msg.contains("topsecret") && !msg.contains("from-file\n"), "{msg}");
    // An empty override unsets the file's password_file.
    let text = format!("[storage.postgres]\npassword_file = {var:?}");
    let c = load(
        &text,
        &[("ENDURE_STORAGE_POSTGRES_PASSWORD_FILE", ""), ("ENDURE_STORAGE_POSTGRES_PASSWORD", "x")],
    )
    .unwrap();
    assert_eq!(c.storage.postgres.password.expose(), Some("x"));
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
    // Nor does serializing it show it.
    let serialized = toml::to_string(&c).unwrap();
    assert!(!serialized.contains("env-secret-value") && serialized.contains("<redacted>"), "{serialized}");
    assert_eq!(c.storage.postgres.password.expose(), Some("env-secret-value"));
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
    for (text, key, part) in [
        (
            "[storage]\nbackend = \"mysql\"",
            "storage.backend",
            "expected one of postgres, sqlite, got \"mysql\"",
        ),
        (
            "[storage]\nbackend = \"sqlite\"\n[storage.sqlite]\npath = \"\"",
            "storage.sqlite.path",
            "must not be empty",
        ),
        ("[storage.postgres]\nhost = \" \"", "storage.postgres.host", "must not be empty"),
        ("[storage.postgres]\ndatabase = \" \"", "storage.postgres.database", "must not be empty"),
        ("[storage.postgres]\nuser = \" \"", "storage.postgres.user", "must not be empty"),
        ("[storage.postgres]\nport = 0", "storage.postgres.port", "must not be 0"),
        ("[storage.postgres]\nmax_connections = 0", "storage.postgres.max_connections", "between 1 and 1000"),
        (
            "[storage.postgres]\nmax_connections = 1001",
            "storage.postgres.max_connections",
            "between 1 and 1000",
        ),
        ("[storage.postgres]\nconnect_timeout_ms = 0", "storage.postgres.connect_timeout_ms", "at least 1"),
    ] {
        invalid(text, key, part);
    }
    // The other backend's settings are not checked.
    assert!(load("[storage]\nbackend = \"sqlite\"\n[storage.postgres]\nhost = \"\"", &[]).is_ok());
    assert!(load("[storage.sqlite]\npath = \"\"", &[]).is_ok());
    assert!(load("[storage.postgres]\nmax_connections = 1000", &[]).is_ok());
    assert!(load("[storage.postgres]\nmax_connections = 1", &[]).is_ok());
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
    invalid(
        "[log]\nlevel = \"verbose\"",
        "log.level",
        "expected one of error, warn, info, debug, trace, got \"verbose\"",
    );
    invalid("[log]\nformat = \"xml\"", "log.format", "expected one of text, json, got \"xml\"");
    assert_eq!(load("[log]\nformat = \" JSON \"", &[]).unwrap().log.format, LogFormat::Json);
    for level in ["error", "warn", "INFO", "debug", "trace"] {
        let c = load(&format!("[log]\nlevel = {level:?}"), &[]).unwrap();
        assert_eq!(c.log.level.as_str(), level.to_ascii_lowercase());
    }
}

#[test]
fn metrics_listen() {
    let c = load("[metrics]\nlisten = \"127.0.0.1:9090\"", &[]).unwrap();
    assert_eq!(c.metrics.listen, Some(addr("127.0.0.1:9090")));
    let c = load("", &[("ENDURE_METRICS_LISTEN", "0.0.0.0:9091")]).unwrap();
    assert_eq!(c.metrics.listen, Some(addr("0.0.0.0:9091")));
    invalid("[metrics]\nlisten = \"9090\"", "metrics.listen", "invalid socket address syntax");
    invalid("[metrics]\nlisten = \"0.0.0.0:7243\"", "metrics.listen", "clashes with server.http_listen");
    invalid(
        "[server]\nlisten = \"127.0.0.1:9090\"\n[metrics]\nlisten = \"127.0.0.1:9090\"",
        "metrics.listen",
        "clashes with server.listen",
    );
}

#[test]
fn validation_listeners() {
    let bad = "invalid socket address syntax";
    invalid("[server]\nlisten = \"localhost:7233\"", "server.listen", bad);
    invalid("[server]\ninternal_listen = \"7234\"", "server.internal_listen", bad);
    invalid("[server]\nhttp_listen = \"0.0.0.0\"", "server.http_listen", bad);
    // Blanks around an address are ignored.
    assert_eq!(load("[server]\nlisten = \" 127.0.0.1:1 \"", &[]).unwrap().server.listen, addr("127.0.0.1:1"));
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
    // No namespace at all is allowed: the server always has "default".
    assert!(load("[server]\nnamespaces = []", &[]).unwrap().server.namespaces.is_empty());
}

#[test]
fn search_attributes_follow_the_servers_rule() {
    // The messages are schema::parse_declaration's, under the attribute's own key.
    let msg = err("[server.search_attributes]\nCustomerId = \"Float\"", &[]);
    assert!(
        msg.starts_with("server.search_attributes.CustomerId: unknown search attribute type \"Float\""),
        "{msg}"
    );
    assert!(msg.ends_with("(in <config> line 2, column 1)"), "{msg}");
    let msg = err("[server.search_attributes]\n\"1x\" = \"Int\"", &[]);
    assert!(msg.starts_with("server.search_attributes.1x: Search attribute name \"1x\" is invalid"), "{msg}");
    let msg = err("[server]\nsearch_attributes = { WorkflowId = \"Keyword\" }", &[]);
    assert!(
        msg.contains("server.search_attributes.WorkflowId: Search attribute WorkflowId is reserved"),
        "{msg}"
    );
    let long = "a".repeat(256);
    let msg = err(&format!("[server.search_attributes]\n{long} = \"Int\""), &[]);
    assert!(msg.contains("is invalid") && msg.contains("at most 255 bytes"), "{msg}");
}

#[test]
fn docs_document_every_key_with_its_default() {
    // Every row of the key tables: | `key` | type | `default` … | `ENDURE_KEY` |
    let keys = keys();
    let mut documented = Vec::new();
    for row in DOCS.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let code = |cell: &'static str| {
            cell.split('`').nth(1).unwrap_or_else(|| panic!("a cell without `…`: {row}"))
        };
        let (path, default, var) = (code(cells[1]), code(cells[3]), code(cells[4]));
        let key = keys.iter().find(|k| k.path == path);
        let key = key.unwrap_or_else(|| panic!("docs/configuration.md documents {path}, which is no key"));
        let documented_default: toml::Table =
            format!("v = {default}").parse().unwrap_or_else(|e| panic!("{row}: {e}"));
        assert_eq!(documented_default["v"], key.default, "the documented default of {path}");
        assert_eq!(var, key.env_var(), "the documented variable of {path}");
        documented.push(path);
    }
    let paths: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
    assert_eq!(documented, paths, "docs/configuration.md documents every key once, in file order");
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
    // It sets every key, in the order of the key list.
    let set: Vec<String> =
        example.lines().filter_map(|l| l.split_once(" = ")).map(|(key, _)| key.to_owned()).collect();
    let names: Vec<String> =
        keys().iter().map(|k| k.path.rsplit('.').next().unwrap_or_default().to_owned()).collect();
    assert_eq!(set, names);
}
