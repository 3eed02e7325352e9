//! Specification tests of the core's transitions: steps in, history events, outbox tasks and
//! state facts out, pinned as snapshots that read like a specification.
//!
//! Each case is a row of a [`cases!`] table: a name, a one-line statement of the behaviour, and
//! the steps. The steps drive a [`driver::Spec`] the way the server drives the core (start a run,
//! poll and complete workflow tasks with commands, let timers fire, deliver activity results,
//! signals, child and external outcomes, updates, resets …) with explicit time and ids. The
//! transcript the driver writes (see [`driver`] for its line format) is compared with
//! `snapshots/spec__<module>__<case>.snap`.
//!
//! To add a case: add a row to the table of the module it belongs to, run
//! `INSTA_UPDATE=always cargo test -p endure-core --test spec` (or `cargo insta review`), read
//! the new `.snap` file as you would a specification, and commit it with the case. A changed or
//! missing snapshot fails `cargo test` (under `CI=true` insta never writes snapshots; elsewhere
//! it writes a `.snap.new` beside the old one and still fails).
//!
//! Where today's behaviour looks different from the real Temporal server, the case says so in a
//! `// DIVERGENCE?:` comment: the snapshot pins what Endure does now, not what it should do.

mod cmd;
mod driver;
mod render;

/// Declares spec cases: `name: "what it shows" => |s| { steps }`, one `#[test]` each, whose
/// transcript must match the snapshot named after the case.
macro_rules! cases {
    ($( $(#[$meta:meta])* $name:ident : $title:literal => |$s:ident| $body:block )*) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            let mut $s = $crate::driver::Spec::new();
            $body
            insta::with_settings!({ omit_expression => true, description => $title }, {
                insta::assert_snapshot!(stringify!($name), $s.transcript());
            });
        }
    )*};
}

mod activities;
mod activity_ops;
mod children;
mod continue_as_new;
mod external;
mod reset;
mod retries_and_cron;
mod signals_and_cancel;
mod timers;
mod updates;
mod workflow_tasks;
