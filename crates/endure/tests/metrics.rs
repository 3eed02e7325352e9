//! `endure server start-dev --metrics-port`: the binary serves Prometheus' /metrics with every
//! metric of `endure_server::metrics` described, counters at zero.

use endure_server::metrics::Kind;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 GET; the whole response, or the error.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn start_dev_serves_prometheus_metrics_on_the_metrics_port() {
    let (port, metrics_port) = (free_port(), free_port());
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_endure"))
            .args(["server", "start-dev", "--ip", "127.0.0.1", "--db-filename", ":memory:"])
            .args(["--port", &port.to_string(), "--metrics-port", &metrics_port.to_string()])
            .args(["--log-level", "warn", "--headless", "--http-port", "0"])
            .stdout(Stdio::null())
            .spawn()
            .expect("endure starts"),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        match get(addr, "/metrics") {
            Ok(r) => break r,
            Err(e) if Instant::now() < deadline => {
                assert!(server.0.try_wait().expect("status").is_none(), "endure exited: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("no /metrics within 30 s: {e}"),
        }
    };
    assert!(response.starts_with("HTTP/1.") && response.contains(" 200 "), "{response}");
    // Unlabelled counters exist from the start, at zero; labelled series appear with their
    // first recording (the Python suite's Prometheus test scrapes those under load).
    for m in endure_server::metrics::ALL.iter().filter(|m| m.labels.is_empty() && m.kind == Kind::Counter) {
        assert!(response.contains(&format!("# TYPE {} counter", m.name)), "{} typed: {response}", m.name);
        assert!(response.contains(&format!("# HELP {} ", m.name)), "{} described: {response}", m.name);
        assert!(response.lines().any(|l| l == format!("{} 0", m.name)), "{} at zero: {response}", m.name);
    }
    // The server's own start already recorded requests and store calls, under Temporal's names.
    for name in ["persistence_requests", "numshards_gauge"] {
        assert!(response.contains(&format!("# TYPE {name} ")), "{name} recorded at start: {response}");
    }
}
