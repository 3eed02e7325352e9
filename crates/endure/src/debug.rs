//! `endure debug`: answers questions about the server's internals for tests and tools. Not a
//! stable interface.
//!
//! `endure debug shards` reads one JSON query a line on stdin and writes one JSON answer a line
//! on stdout (flushed after each), computed by the server crate's own functions, so a test
//! harness never re-implements the shard hash:
//!
//! | query | answer |
//! |---|---|
//! | `{"op":"shard_of","shard_count":16,"namespace_id":"…","workflow_id":"…"}` | `{"shard":3}` |
//! | `{"op":"queue_shard","shard_count":16,"namespace_id":"…","task_queue":"…"}` | `{"shard":5}` |
//! | `{"op":"owner","shard":3,"members":["127.0.0.1:7001","127.0.0.1:7002"]}` | `{"owner":"127.0.0.1:7002"}` (`null` without members) |
//!
//! A line that is not a valid query is answered `{"error":"…"}` and the next line is read; blank
//! lines are skipped. The command exits 0 at the end of its input.

use anyhow::{Context, Result};
use endure_server::cluster::{desired_owner, queue_shard, shard_of};
use endure_store::Member;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, Write};

/// What `endure debug` can answer.
#[derive(clap::Subcommand)]
pub(crate) enum DebugCommand {
    /// Shard placement as the server computes it: JSON-lines queries on stdin, one JSON answer
    /// a line on stdout (ops `shard_of`, `queue_shard`, `owner`; see crates/endure/src/debug.rs).
    Shards,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Query {
    ShardOf { shard_count: u32, namespace_id: String, workflow_id: String },
    QueueShard { shard_count: u32, namespace_id: String, task_queue: String },
    Owner { shard: i32, members: Vec<String> },
}

pub(crate) fn run(command: DebugCommand) -> Result<()> {
    match command {
        DebugCommand::Shards => shards(std::io::stdin().lock(), std::io::stdout().lock()),
    }
}

fn shards(input: impl BufRead, mut output: impl Write) -> Result<()> {
    for line in input.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Query>(&line) {
            Ok(query) => answer(query),
            Err(e) => json!({ "error": e.to_string() }),
        };
        writeln!(output, "{answer}").context("writing stdout")?;
        output.flush().context("writing stdout")?;
    }
    Ok(())
}

fn answer(query: Query) -> Value {
    match query {
        Query::ShardOf { shard_count, namespace_id, workflow_id } => {
            json!({ "shard": shard_of(shard_count, &namespace_id, &workflow_id) })
        }
        Query::QueueShard { shard_count, namespace_id, task_queue } => {
            json!({ "shard": queue_shard(shard_count, &namespace_id, &task_queue) })
        }
        Query::Owner { shard, members } => {
            let members: Vec<Member> =
                members.into_iter().map(|id| Member { id, address: String::new() }).collect();
            json!({ "owner": desired_owner(&members, shard).map(|m| m.id.as_str()) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        shards(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn answers_each_query_with_the_server_functions() {
        let answers = ask(concat!(
            r#"{"op":"shard_of","shard_count":16,"namespace_id":"ns","workflow_id":"wf-1"}"#,
            "\n\n",
            r#"{"op":"queue_shard","shard_count":16,"namespace_id":"ns","task_queue":"tq"}"#,
            "\n",
            r#"{"op":"owner","shard":3,"members":["a:1","b:2","c:3"]}"#,
            "\n",
            r#"{"op":"owner","shard":3,"members":[]}"#,
            "\n",
        ));
        let members: Vec<Member> = ["a:1", "b:2", "c:3"]
            .iter()
            .map(|id| Member { id: (*id).into(), address: String::new() })
            .collect();
        assert_eq!(
            answers,
            vec![
                json!({ "shard": shard_of(16, "ns", "wf-1") }),
                json!({ "shard": queue_shard(16, "ns", "tq") }),
                json!({ "owner": desired_owner(&members, 3).unwrap().id }),
                json!({ "owner": null }),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_answered_with_an_error_and_the_next_one_still_served() {
        let answers = ask(concat!(
            "not json\n",
            r#"{"op":"shard_of","shard_count":4}"#,
            "\n",
            r#"{"op":"shard_of","shard_count":1,"namespace_id":"ns","workflow_id":"w"}"#,
            "\n",
        ));
        assert_eq!(answers.len(), 3);
        assert!(answers[0]["error"].is_string(), "{answers:?}");
        assert!(answers[1]["error"].as_str().unwrap().contains("namespace_id"), "{answers:?}");
        assert_eq!(answers[2], json!({ "shard": 0 }));
    }
}
