//! A server on an in-memory network, on a single-threaded runtime with paused time, over the
//! in-memory store: what a simulation of the cluster is built from. Every call goes through the
//! same gRPC code as over TCP.

use endure_api::temporal::api::workflowservice::v1::{DescribeNamespaceRequest, GetSystemInfoRequest};
use endure_server::network::{Incoming, Network};
use endure_server::peer::Peers;
use endure_server::{Environment, Server, ServerConfig};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Listening addresses and the senders of their incoming connections.
#[derive(Default)]
struct Loopback {
    listeners: Mutex<BTreeMap<String, mpsc::Sender<DuplexStream>>>,
    next_port: Mutex<u16>,
}

#[async_trait::async_trait]
impl Network for Loopback {
    async fn dial(&self, address: &str) -> std::io::Result<DuplexStream> {
        let listener = self.listeners.lock().get(address).cloned();
        let listener = listener.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::ConnectionRefused))?;
        let (client, server) = tokio::io::duplex(64 * 1024);
        listener
            .send(server)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::ConnectionRefused))?;
        Ok(client)
    }

    async fn listen(&self, address: SocketAddr) -> std::io::Result<(SocketAddr, Incoming)> {
        let mut bound = address;
        if bound.port() == 0 {
            let mut next = self.next_port.lock();
            *next += 1;
            bound.set_port(10_000 + *next);
        }
        let (tx, rx) = mpsc::channel(16);
        self.listeners.lock().insert(bound.to_string(), tx);
        Ok((bound, rx))
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_server_answers_over_an_in_memory_network() {
    let network: Arc<dyn Network> = Arc::new(Loopback::default());
    let store = Arc::new(endure_store_memory::MemoryStore::new());
    let env = Environment {
        clock: endure_server::clock::Clock::system(),
        ids: endure_server::ids::Ids::seeded(1),
        network: Some(network.clone()),
    };
    let listen: SocketAddr = "10.0.0.1:0".parse().expect("an address");
    let server = Server::start_in(ServerConfig::single(listen), store, env).await.expect("started");
    let peers = Peers::new(Some(network));
    let mut client = peers.workflow(&server.local_addr.to_string()).expect("a client");
    let info = client.get_system_info(GetSystemInfoRequest::default()).await.expect("system info");
    assert!(info.into_inner().server_version.contains("endure"));
    let ns = client
        .describe_namespace(DescribeNamespaceRequest { namespace: "default".into(), ..Default::default() })
        .await
        .expect("the default namespace");
    let id = ns.into_inner().namespace_info.expect("info").id;
    let seeded = endure_server::ids::Ids::seeded(1);
    let (_member, namespace) = (seeded.next(), seeded.next());
    assert_eq!(id, namespace, "ids come from the seeded sequence (the member id first)");
    server.shutdown().await.expect("shut down");
}
