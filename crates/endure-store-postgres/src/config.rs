//! Connection settings.

use crate::PgError;
use std::fmt;
use std::time::Duration;

/// Where and how to reach the PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Host name or IP address (a path starting with `/` is a Unix socket directory).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password, if the server asks for one. Never printed by `Debug`.
    pub password: Option<String>,
    /// Database name.
    pub database: String,
    /// Most connections the store's pool opens at once (at least 1).
    pub max_connections: usize,
    /// How long to wait for a new connection to be established.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// Default [`max_connections`](Self::max_connections).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
    /// Default [`connect_timeout`](Self::connect_timeout).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Settings from a connection URL, `postgres://user[:password]@host[:port]/database`
    /// (or libpq's `key=value` form), with the default pool size and connect timeout (a
    /// `connect_timeout` in the URL, in seconds, overrides the latter). Missing parts default
    /// to user `postgres`, port 5432, host `localhost` and database `postgres`.
    pub fn from_url(url: &str) -> Result<PostgresConfig, PgError> {
        let parsed: tokio_postgres::Config =
            url.parse().map_err(|e| PgError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let host = match parsed.get_hosts() {
            [] => "localhost".to_owned(),
            [tokio_postgres::config::Host::Tcp(h)] => h.clone(),
            #[cfg(unix)]
            [tokio_postgres::config::Host::Unix(p)] => p.to_string_lossy().into_owned(),
            _ => return Err(PgError::Config("exactly one PostgreSQL host is supported".into())),
        };
        let port = match parsed.get_ports() {
            [] => 5432,
            [p] => *p,
            _ => return Err(PgError::Config("exactly one PostgreSQL port is supported".into())),
        };
        let password = match parsed.get_password() {
            None => None,
            Some(p) => Some(
                String::from_utf8(p.to_vec())
                    .map_err(|_| PgError::Config("the PostgreSQL password is not UTF-8".into()))?,
            ),
        };
        Ok(PostgresConfig {
            host,
            port,
            user: parsed.get_user().filter(|u| !u.is_empty()).unwrap_or("postgres").to_owned(),
            password,
            database: parsed.get_dbname().filter(|d| !d.is_empty()).unwrap_or("postgres").to_owned(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            connect_timeout: parsed.get_connect_timeout().copied().unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT),
        })
    }

    /// The same settings as a `postgres://` URL (the password included, percent-encoded).
    pub fn to_url(&self) -> String {
        let auth = match &self.password {
            Some(p) => format!("{}:{}", encode(&self.user), encode(p)),
            None => encode(&self.user),
        };
        if self.host.starts_with('/') {
            format!("postgres://{auth}@{}:{}/{}", encode(&self.host), self.port, encode(&self.database))
        } else if self.host.contains(':') {
            format!("postgres://{auth}@[{}]:{}/{}", self.host, self.port, encode(&self.database))
        } else {
            format!("postgres://{auth}@{}:{}/{}", self.host, self.port, encode(&self.database))
        }
    }

    /// `user@host:port/database`, for messages.
    pub(crate) fn target(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.database)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let mut c = PostgresConfig::from_url("postgres://alice:s3cret@db.example:6543/endure").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("alice") && shown.contains("6543"), "{shown}");
        c.password = None;
        assert!(format!("{c:?}").contains("password: None"));
    }

    #[test]
    fn url_round_trip() {
        let c = PostgresConfig::from_url("postgres://u%40x:p%2Fw@127.0.0.1:55432/db_1?connect_timeout=3")
            .unwrap();
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("u@x", Some("p/w")));
        assert_eq!((c.host.as_str(), c.port, c.database.as_str()), ("127.0.0.1", 55432, "db_1"));
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, PostgresConfig::DEFAULT_MAX_CONNECTIONS);
        let again = PostgresConfig::from_url(&c.to_url()).unwrap();
        assert_eq!(PostgresConfig { connect_timeout: c.connect_timeout, ..again }, c);
        let d = PostgresConfig::from_url("postgres://127.0.0.1/").unwrap();
        assert_eq!((d.user.as_str(), d.port, d.database.as_str()), ("postgres", 5432, "postgres"));
    }
}
