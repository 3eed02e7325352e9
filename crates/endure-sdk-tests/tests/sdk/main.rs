//! End-to-end tests that drive a server (Endure, or the real Temporal dev server with
//! `ENDURE_TEST_TARGET=temporal`) with the official Temporal Rust SDK.
//!
//! All tests live in this one test binary so that they run in parallel and the SDK is linked
//! once. Each test starts its own server process (see [`harness`]).

mod activities;
mod client_api;
mod crash;
mod describe;
mod harness;
mod lifecycle;
mod messages;
mod more_activities;
mod workflow_failures;
mod workflow_options;
