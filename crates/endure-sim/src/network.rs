//! The simulated network: every connection between a client or replica and a replica runs
//! through a relay that the simulation controls per process incarnation — up, paused (bytes
//! wait; a paused process neither sends nor answers) or cut (connections close and dials are
//! refused) — with a small latency on every chunk.
//!
//! Deterministic: ordered maps, tokio's (paused, seeded) runtime, no threads.

use endure_server::network::{Incoming, Network};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};

/// One incarnation of a process: a replica (restarted incarnations get new numbers) or a
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    /// The replica's number (clients: [`Node::CLIENTS`]).
    pub replica: u32,
    /// Which start of that replica.
    pub incarnation: u32,
}

impl Node {
    /// The workload's own clients: never faulted.
    pub const CLIENTS: u32 = u32::MAX;
}

/// What a node's links do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow.
    Up,
    /// Bytes wait until the node is up again.
    Paused,
    /// Connections close and dials are refused.
    Cut,
}

/// Latency added to every chunk a relay forwards.
const LATENCY: Duration = Duration::from_millis(1);

#[derive(Default)]
struct State {
    listeners: BTreeMap<String, (Node, mpsc::Sender<DuplexStream>)>,
    links: BTreeMap<Node, watch::Sender<Link>>,
    next_port: u16,
}

/// The network every simulated process is on.
#[derive(Clone, Default)]
pub struct SimNet {
    state: Arc<Mutex<State>>,
}

impl SimNet {
    /// The network as `node` sees it (its dials and listeners are its own).
    pub fn view(&self, node: Node) -> Arc<dyn Network> {
        self.link(node);
        Arc::new(View { net: self.clone(), node })
    }

    /// Sets what `node`'s links do.
    pub fn set(&self, node: Node, link: Link) {
        self.state.lock().links.entry(node).or_insert_with(|| watch::channel(Link::Up).0).send_replace(link);
    }

    fn link(&self, node: Node) -> watch::Receiver<Link> {
        self.state.lock().links.entry(node).or_insert_with(|| watch::channel(Link::Up).0).subscribe()
    }
}

struct View {
    net: SimNet,
    node: Node,
}

fn refused() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionRefused)
}

#[async_trait::async_trait]
impl Network for View {
    async fn dial(&self, address: &str) -> io::Result<DuplexStream> {
        let target = self.net.state.lock().listeners.get(address).cloned();
        let (peer, listener) = target.ok_or_else(refused)?;
        let ends = [self.net.link(self.node), self.net.link(peer)];
        if ends.iter().any(|e| *e.borrow() == Link::Cut) {
            return Err(refused());
        }
        let (client, relay_a) = tokio::io::duplex(64 * 1024);
        let (relay_b, server) = tokio::io::duplex(64 * 1024);
        listener.send(server).await.map_err(|_| refused())?;
        tokio::spawn(relay(relay_a, relay_b, ends));
        Ok(client)
    }

    async fn listen(&self, address: SocketAddr) -> io::Result<(SocketAddr, Incoming)> {
        let mut state = self.net.state.lock();
        let mut bound = address;
        if bound.port() == 0 {
            state.next_port += 1;
            bound.set_port(20_000 + state.next_port);
        }
        let (tx, rx) = mpsc::channel(64);
        state.listeners.insert(bound.to_string(), (self.node, tx));
        Ok((bound, rx))
    }
}

/// Forwards bytes both ways between `a` and `b` while both ends' nodes allow it.
async fn relay(a: DuplexStream, b: DuplexStream, ends: [watch::Receiver<Link>; 2]) {
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    tokio::select! {
        _ = pump(ar, bw, ends.clone()) => {}
        _ = pump(br, aw, ends) => {}
    }
}

async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut ends: [watch::Receiver<Link>; 2],
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => n?,
            _ = cut(&mut ends) => return Err(refused()),
        };
        if n == 0 {
            return Ok(());
        }
        passable(&mut ends).await?;
        tokio::time::sleep(LATENCY).await;
        to.write_all(&buf[..n]).await?;
    }
}

/// Waits until both ends are up; fails if one is cut.
async fn passable(ends: &mut [watch::Receiver<Link>; 2]) -> io::Result<()> {
    loop {
        let first = *ends[0].borrow_and_update();
        let links = [first, *ends[1].borrow_and_update()];
        if links.contains(&Link::Cut) {
            return Err(refused());
        }
        if !links.contains(&Link::Paused) {
            return Ok(());
        }
        let [e0, e1] = ends;
        tokio::select! {
            r = e0.changed() => r.map_err(|_| refused())?,
            r = e1.changed() => r.map_err(|_| refused())?,
        }
    }
}

/// Returns once either end is cut.
async fn cut(ends: &mut [watch::Receiver<Link>; 2]) {
    let [e0, e1] = ends;
    tokio::select! {
        _ = e0.wait_for(|l| *l == Link::Cut) => {}
        _ = e1.wait_for(|l| *l == Link::Cut) => {}
    }
}
