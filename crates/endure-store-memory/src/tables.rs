//! The database's tables, as ordered maps (never hash maps, so no answer depends on an
//! iteration order), and the undo log that makes a group of writes atomic.
//!
//! Each map is keyed like the SQL backends' primary key, so uniqueness and ordering are theirs:
//! strings compare byte-wise, as SQLite's BINARY and PostgreSQL's "C" collation do.

use endure_store::visibility::{SaType, SaValue};
use endure_store::{CurrentRun, NamespaceRow, RunKey, RunRow, TaskRow, VisibilityRow};
use std::collections::BTreeMap;

/// `(namespace id, workflow id)`: the key of a current-run pointer.
pub(crate) type WorkflowKey = (String, String);

/// `(namespace id, run id)`: the key of a visibility row (as in both SQL schemas, the workflow
/// id is not part of it).
pub(crate) type VisibilityKey = (String, String);

/// A member's heartbeat record.
#[derive(Debug, Clone)]
pub(crate) struct MemberRow {
    /// `host:port` of its internal API.
    pub(crate) address: String,
    /// Nanoseconds since the epoch, by the database's clock.
    pub(crate) expires_at: i64,
}

/// Every table of the database.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Namespaces by id (names are unique too).
    pub(crate) namespaces: BTreeMap<String, NamespaceRow>,
    /// Current-run pointers.
    pub(crate) current: BTreeMap<WorkflowKey, CurrentRun>,
    /// Mutable states.
    pub(crate) runs: BTreeMap<RunKey, RunRow>,
    /// History events of each run, by event id.
    pub(crate) events: BTreeMap<RunKey, BTreeMap<i64, Vec<u8>>>,
    /// The outbox, by task id.
    pub(crate) tasks: BTreeMap<i64, TaskRow>,
    /// The id the next task gets (ids start at 1, as in both SQL backends).
    pub(crate) next_task_id: i64,
    /// Visibility rows; their custom values are kept canonical (see [`canonical_custom`]).
    pub(crate) visibility: BTreeMap<VisibilityKey, VisibilityRow>,
    /// Custom search attributes of each namespace, by name.
    pub(crate) search_attributes: BTreeMap<String, BTreeMap<String, SaType>>,
    /// The shard count, once stored.
    pub(crate) shard_count: Option<u32>,
    /// Shard leases by shard id: `(owner, range_id)`.
    pub(crate) shards: BTreeMap<i32, (String, i64)>,
    /// Member heartbeats by member id (expired ones stay, as rows do in the SQL backends).
    pub(crate) members: BTreeMap<String, MemberRow>,
}

impl Tables {
    /// An empty database.
    pub(crate) fn new() -> Tables {
        Tables {
            namespaces: BTreeMap::new(),
            current: BTreeMap::new(),
            runs: BTreeMap::new(),
            events: BTreeMap::new(),
            tasks: BTreeMap::new(),
            next_task_id: 1,
            visibility: BTreeMap::new(),
            search_attributes: BTreeMap::new(),
            shard_count: None,
            shards: BTreeMap::new(),
            members: BTreeMap::new(),
        }
    }
}

/// A run's custom search attribute values as the SQL backends read them back from their JSON
/// column: one value per name (the last one given wins), ordered by name, without floats JSON
/// cannot hold (NaN, infinities), which read as absent.
pub(crate) fn canonical_custom(values: &[(String, SaValue)]) -> Vec<(String, SaValue)> {
    let mut map: BTreeMap<&str, &SaValue> = BTreeMap::new();
    for (name, value) in values {
        match value {
            SaValue::Float(f) if !f.is_finite() => {
                map.remove(name.as_str());
            }
            _ => {
                map.insert(name, value);
            }
        }
    }
    map.into_iter().map(|(name, value)| (name.to_owned(), value.clone())).collect()
}

/// How to take back one change of a write that fails later in the same transaction.
#[derive(Debug)]
enum Undo {
    Current(WorkflowKey, Option<CurrentRun>),
    Run(RunKey, Option<RunRow>),
    EventInserted(RunKey, i64),
    TaskInserted(i64),
    TaskDeleted(TaskRow),
    Visibility(VisibilityKey, Option<Box<VisibilityRow>>),
    NextTaskId(i64),
}

/// A transaction over the tables: every change goes through it and is logged, so
/// [`Txn::rollback`] restores the tables exactly as they were.
pub(crate) struct Txn<'a> {
    tables: &'a mut Tables,
    undo: Vec<Undo>,
}

impl<'a> Txn<'a> {
    /// Begins a transaction.
    pub(crate) fn begin(tables: &'a mut Tables) -> Txn<'a> {
        Txn { tables, undo: Vec::new() }
    }

    /// The tables as this transaction sees them (its own changes included).
    pub(crate) fn tables(&self) -> &Tables {
        self.tables
    }

    /// Keeps every change.
    pub(crate) fn commit(self) {}

    /// Takes every change back, newest first.
    pub(crate) fn rollback(self) {
        let t = self.tables;
        for u in self.undo.into_iter().rev() {
            match u {
                Undo::Current(k, old) => restore(&mut t.current, k, old),
                Undo::Run(k, old) => restore(&mut t.runs, k, old),
                Undo::EventInserted(k, id) => {
                    if let Some(events) = t.events.get_mut(&k) {
                        events.remove(&id);
                        if events.is_empty() {
                            t.events.remove(&k);
                        }
                    }
                }
                Undo::TaskInserted(id) => {
                    t.tasks.remove(&id);
                }
                Undo::TaskDeleted(row) => {
                    t.tasks.insert(row.task_id, row);
                }
                Undo::Visibility(k, old) => restore(&mut t.visibility, k, old.map(|row| *row)),
                Undo::NextTaskId(id) => t.next_task_id = id,
            }
        }
    }

    /// Sets a current-run pointer.
    pub(crate) fn put_current(&mut self, key: WorkflowKey, value: CurrentRun) {
        let old = self.tables.current.insert(key.clone(), value);
        self.undo.push(Undo::Current(key, old));
    }

    /// Sets a run's row.
    pub(crate) fn put_run(&mut self, key: RunKey, row: RunRow) {
        let old = self.tables.runs.insert(key.clone(), row);
        self.undo.push(Undo::Run(key, old));
    }

    /// Adds a history event; `false` (and no change) if the run has an event with that id.
    pub(crate) fn insert_event(&mut self, key: &RunKey, event_id: i64, data: Vec<u8>) -> bool {
        let events = self.tables.events.entry(key.clone()).or_default();
        if events.contains_key(&event_id) {
            return false;
        }
        events.insert(event_id, data);
        self.undo.push(Undo::EventInserted(key.clone(), event_id));
        true
    }

    /// Adds a task under the next task id, which it returns.
    pub(crate) fn insert_task(&mut self, mut row: TaskRow) -> i64 {
        let id = self.tables.next_task_id;
        self.undo.push(Undo::NextTaskId(id));
        self.tables.next_task_id = id.saturating_add(1);
        row.task_id = id;
        self.tables.tasks.insert(id, row);
        self.undo.push(Undo::TaskInserted(id));
        id
    }

    /// Deletes a task if it exists.
    pub(crate) fn delete_task(&mut self, task_id: i64) {
        if let Some(row) = self.tables.tasks.remove(&task_id) {
            self.undo.push(Undo::TaskDeleted(row));
        }
    }

    /// Inserts or replaces a visibility row.
    pub(crate) fn put_visibility(&mut self, key: VisibilityKey, row: VisibilityRow) {
        let old = self.tables.visibility.insert(key.clone(), row);
        self.undo.push(Undo::Visibility(key, old.map(Box::new)));
    }
}

fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, old: Option<V>) {
    match old {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(run: &str) -> RunKey {
        RunKey { namespace_id: "ns".into(), workflow_id: "wf".into(), run_id: run.into() }
    }

    fn task(run: &str) -> TaskRow {
        TaskRow { task_id: 0, shard_id: 0, run: key(run), fire_at: None, data: vec![] }
    }

    fn snapshot(t: &Tables) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {} {:?}",
            t.current, t.runs, t.events, t.tasks, t.next_task_id, t.visibility
        )
    }

    #[test]
    fn rollback_restores_every_table_exactly() {
        let mut t = Tables::new();
        let mut txn = Txn::begin(&mut t);
        txn.put_run(key("r1"), RunRow { state: vec![1], db_version: 1 });
        assert!(txn.insert_event(&key("r1"), 1, vec![1]));
        let kept = txn.insert_task(task("r1"));
        txn.insert_task(task("r1"));
        txn.commit();
        let before = snapshot(&t);

        let mut txn = Txn::begin(&mut t);
        txn.put_run(key("r1"), RunRow { state: vec![2], db_version: 2 });
        txn.put_run(key("r2"), RunRow { state: vec![], db_version: 1 });
        assert!(txn.insert_event(&key("r1"), 2, vec![2]));
        assert!(!txn.insert_event(&key("r1"), 1, vec![9]), "an event id is taken once");
        assert!(txn.insert_event(&key("r2"), 1, vec![]));
        txn.insert_task(task("r2"));
        txn.delete_task(kept);
        txn.delete_task(999);
        txn.put_current(
            ("ns".into(), "wf".into()),
            CurrentRun { run_id: "r2".into(), status: 1, start_request_id: String::new() },
        );
        txn.put_visibility(("ns".into(), "r2".into()), VisibilityRow::default());
        assert_eq!(txn.tables().tasks.len(), 2);
        txn.rollback();
        assert_eq!(snapshot(&t), before);
        assert_eq!(t.next_task_id, 3, "ids drawn by a rolled-back write are drawn again");
    }

    #[test]
    fn custom_values_read_back_as_the_sql_backends_store_them() {
        let values = vec![
            ("b".to_string(), SaValue::Int(1)),
            ("a".to_string(), SaValue::Str("x".into())),
            ("b".to_string(), SaValue::Int(2)),
            ("n".to_string(), SaValue::Float(f64::NAN)),
            ("i".to_string(), SaValue::Float(1.5)),
            ("i".to_string(), SaValue::Float(f64::INFINITY)),
        ];
        assert_eq!(
            canonical_custom(&values),
            vec![("a".to_string(), SaValue::Str("x".into())), ("b".to_string(), SaValue::Int(2))]
        );
    }
}
