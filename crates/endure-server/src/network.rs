//! Where connections come from. A real server uses the operating system's TCP (no
//! [`Network`] given); a simulation of the cluster gives an in-memory one, whose connections it
//! can delay, cut or refuse, so that every replica-to-replica and client call goes through the
//! same gRPC code as in production.
//!
//! A leaf: it knows byte streams and addresses, not what is said over them.

use std::net::SocketAddr;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Connections arriving at a listening address.
pub type Incoming = mpsc::Receiver<DuplexStream>;

/// An in-memory network (see the module docs).
#[async_trait::async_trait]
pub trait Network: Send + Sync {
    /// Opens a connection to `address` (`host:port`).
    async fn dial(&self, address: &str) -> std::io::Result<DuplexStream>;
    /// Listens at `address` (port 0: any free one); returns the address bound and the
    /// connections arriving there.
    async fn listen(&self, address: SocketAddr) -> std::io::Result<(SocketAddr, Incoming)>;
}
