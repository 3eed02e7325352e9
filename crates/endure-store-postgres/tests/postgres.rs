//! PostgreSQL-specific behaviour: migrations, schema checks, concurrency and fencing.

mod common;

use common::{batch, fresh_db, fresh_store, key};
use endure_store::visibility::{Attr, SaType, SaValue, Scalar};
use endure_store::*;
use endure_store_postgres::{PgError, PostgresConfig, PostgresStore, SCHEMA_VERSION};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A plain connection to the test database, for looking under the hood.
async fn raw(config: &PostgresConfig) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&config.to_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

fn all_versions() -> Vec<i64> {
    (1..=SCHEMA_VERSION).collect()
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let (config, db) = fresh_db().await;
    assert_eq!(PostgresStore::schema_version(&config).await.unwrap(), None);
    let first = PostgresStore::migrate(&config).await.unwrap();
    assert_eq!(first.applied, all_versions());
    assert_eq!(first.schema_version, SCHEMA_VERSION);
    let second = PostgresStore::migrate(&config).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.schema_version, SCHEMA_VERSION);
    assert_eq!(PostgresStore::schema_version(&config).await.unwrap(), Some(SCHEMA_VERSION));
    let rows = raw(&config)
        .await
        .query("SELECT version, name FROM schema_migrations ORDER BY version", &[])
        .await
        .unwrap();
    let recorded: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(recorded.iter().map(|(v, _)| *v).collect::<Vec<_>>(), all_versions());
    assert_eq!(recorded[0].1, "init");
    PostgresStore::connect(&config).await.expect("a migrated database connects");
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_apply_each_migration_once() {
    let (config, db) = fresh_db().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let c = config.clone();
            tokio::spawn(async move { PostgresStore::migrate(&c).await })
        })
        .collect();
    let mut applied = Vec::new();
    for r in runs {
        let report = r.await.unwrap().expect("every concurrent migrator succeeds");
        assert_eq!(report.schema_version, SCHEMA_VERSION);
        applied.extend(report.applied);
    }
    applied.sort();
    assert_eq!(applied, all_versions(), "each migration applied exactly once");
    let n: i64 =
        raw(&config).await.query_one("SELECT count(*) FROM schema_migrations", &[]).await.unwrap().get(0);
    assert_eq!(n, SCHEMA_VERSION);
    PostgresStore::connect(&config).await.expect("connects after concurrent migrations");
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (config, db) = fresh_db().await;
    PostgresStore::migrate(&config).await.unwrap();
    let future = SCHEMA_VERSION + 1;
    raw(&config)
        .await
        .execute("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", &[&future])
        .await
        .unwrap();
    let err = PostgresStore::connect(&config).await.expect_err("a newer schema must be refused");
    assert!(
        matches!(err, PgError::SchemaTooNew { found, supported } if found == future && supported == SCHEMA_VERSION)
    );
    assert_eq!(
        err.to_string(),
        format!(
            "database schema version {future} is newer than this endure binary supports ({SCHEMA_VERSION}); upgrade endure"
        )
    );
    let err = PostgresStore::migrate(&config).await.expect_err("migrate must not touch a newer schema");
    assert!(matches!(err, PgError::SchemaTooNew { .. }), "{err}");
    assert!(PostgresStore::connect_and_migrate(&config).await.is_err());
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn an_unmigrated_or_older_schema_asks_for_endure_migrate() {
    let (config, db) = fresh_db().await;
    let err = PostgresStore::connect(&config).await.expect_err("an empty database must be refused");
    assert!(matches!(err, PgError::SchemaMissing { .. }), "{err}");
    assert!(err.to_string().contains("run `endure migrate`"), "{err}");
    assert!(err.to_string().contains(&config.database), "{err}");

    PostgresStore::migrate(&config).await.unwrap();
    raw(&config)
        .await
        .execute("DELETE FROM schema_migrations WHERE version = $1", &[&SCHEMA_VERSION])
        .await
        .unwrap();
    let err = PostgresStore::connect(&config).await.expect_err("an older schema must be refused");
    assert!(matches!(err, PgError::SchemaTooOld { .. }), "{err}");
    assert!(err.to_string().contains("run `endure migrate`"), "{err}");
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn connection_failures_name_the_server() {
    let config = PostgresConfig {
        port: 1,
        connect_timeout: std::time::Duration::from_secs(2),
        ..PostgresConfig::from_url("postgres://postgres:hunter2@127.0.0.1/none").unwrap()
    };
    let err = PostgresStore::connect(&config).await.expect_err("nothing listens on port 1");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(PostgresStore::migrate(&config).await.is_err());
}

/// Many fenced commits race one acquisition of their shard: each commit either lands whole
/// (state, events, tasks, visibility, current pointer) or fails with ShardOwnershipLost and
/// leaves nothing; every commit started after the acquisition returned fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fenced_commits_racing_an_acquisition_land_whole_or_not_at_all() {
    let (store, _config, db) = fresh_store(24).await;
    let store = Arc::new(store);
    store.init_shard_count(4).await.unwrap();
    let old = store.acquire_shard(1, "old-owner", 0).await.unwrap();
    let fence = Fence { shard_id: 1, range_id: old.range_id };
    let acquired = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let landed = Arc::new(AtomicUsize::new(0));
    let begun_after = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));

    // Writers commit new runs back to back under the old lease until told to stop.
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (store, acquired, stop, landed, begun_after, next) = (
                store.clone(),
                acquired.clone(),
                stop.clone(),
                landed.clone(),
                begun_after.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst) as i64;
                    // Run ids are unique (visibility is keyed by namespace and run id).
                    let k = key(&format!("fenced-{i}"), &format!("r{i}"));
                    let mut b = batch(&k, None, 1..3);
                    b.fence = Some(fence);
                    b.current = Some(CurrentWrite {
                        condition: CurrentCondition::Absent,
                        value: CurrentRun {
                            run_id: k.run_id.clone(),
                            status: 1,
                            start_request_id: format!("req-{i}"),
                        },
                    });
                    b.new_tasks = vec![
                        NewTask { fire_at: None, data: format!("t-{i}").into_bytes() },
                        NewTask { fire_at: Some(1_000 + i), data: vec![] },
                    ];
                    b.visibility = Some(VisibilityRow {
                        namespace_id: "ns".into(),
                        workflow_id: k.workflow_id.clone(),
                        run_id: k.run_id.clone(),
                        status: 1,
                        start_time: i,
                        ..Default::default()
                    });
                    let started_after_acquisition = acquired.load(Ordering::SeqCst);
                    if started_after_acquisition {
                        begun_after.fetch_add(1, Ordering::SeqCst);
                    }
                    let r = store.commit(b).await;
                    if r.is_ok() {
                        landed.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.push((k, started_after_acquisition, r));
                }
                outcomes
            })
        })
        .collect();

    // Meanwhile another member takes the shard, then lets the writers run on a little.
    while landed.load(Ordering::SeqCst) < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let (landed_before, t0) = (landed.load(Ordering::SeqCst), std::time::Instant::now());
    let new = store.acquire_shard(1, "new-owner", old.range_id).await.unwrap();
    acquired.store(true, Ordering::SeqCst);
    let (waited, landed_while_waiting) = (t0.elapsed(), landed.load(Ordering::SeqCst) - landed_before);
    eprintln!("acquisition waited {waited:?} while {landed_while_waiting} fenced commits landed");
    // Fair queueing: the acquisition waits for the commits in flight (16 writers, a few round
    // trips), not for as long as the old owner keeps writing (without the advisory locks this
    // ran to the hundreds and grew with the load).
    assert!(landed_while_waiting < 300, "the acquisition was starved by {landed_while_waiting} commits");
    assert_eq!(new.range_id, old.range_id + 1);
    while begun_after.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.extend(w.await.unwrap());
    }
    let tasks: Vec<TaskRow> = store.load_tasks().await.unwrap();
    let mut tasks_by_run: HashMap<RunKey, Vec<&TaskRow>> = HashMap::new();
    for t in &tasks {
        tasks_by_run.entry(t.run.clone()).or_default().push(t);
    }
    let f = VisibilityFilter { namespace_id: "ns".into(), ..Default::default() };
    let visible: HashSet<String> =
        store.list_runs(&f, None, 10_000).await.unwrap().into_iter().map(|r| r.workflow_id).collect();

    let (mut ok, mut lost) = (0, 0);
    for (k, started_after, r) in outcomes {
        let run = store.get_run(&k).await.unwrap();
        let events = store.read_events(&k, 1, i64::MAX, 10).await.unwrap();
        let current = store.current_run("ns", &k.workflow_id).await.unwrap();
        let run_tasks = tasks_by_run.get(&k).map_or(0, Vec::len);
        match r {
            Ok(res) => {
                ok += 1;
                assert!(!started_after, "{}: a commit begun after the acquisition must fail", k.workflow_id);
                assert_eq!(run.map(|r| r.db_version), Some(1), "{}", k.workflow_id);
                assert_eq!(events.len(), 2, "{}", k.workflow_id);
                assert!(current.is_some(), "{}", k.workflow_id);
                assert_eq!(run_tasks, 2, "{}", k.workflow_id);
                assert!(
                    tasks_by_run[&k].iter().all(|t| t.shard_id == 1 && res.task_ids.contains(&t.task_id))
                );
                assert!(
                    visible.contains(&k.workflow_id),
                    "{} not in {} visible",
                    k.workflow_id,
                    visible.len()
                );
            }
            Err(StoreError::ShardOwnershipLost { .. }) => {
                lost += 1;
                assert!(run.is_none(), "{}: a fenced-out commit left its run", k.workflow_id);
                assert!(events.is_empty(), "{}: a fenced-out commit left events", k.workflow_id);
                assert!(current.is_none(), "{}: a fenced-out commit left its current pointer", k.workflow_id);
                assert_eq!(run_tasks, 0, "{}: a fenced-out commit left tasks", k.workflow_id);
                assert!(
                    !visible.contains(&k.workflow_id),
                    "{}: a fenced-out commit left visibility",
                    k.workflow_id
                );
            }
            Err(e) => panic!("{}: unexpected error {e:?}", k.workflow_id),
        }
    }
    assert!(ok >= 100, "ok {ok}, lost {lost}");
    assert!(lost >= 50, "ok {ok}, lost {lost}: every commit begun after the acquisition fails");
    eprintln!("fencing race: {ok} commits landed, {lost} fenced out");

    // The new owner writes; the old lease stays fenced out.
    let k = key("after", "r1");
    let mut b = batch(&k, None, 1..2);
    b.fence = Some(Fence { shard_id: 1, range_id: new.range_id });
    store.commit(b.clone()).await.expect("the new owner writes");
    b.run = key("after", "r2");
    b.fence = Some(fence);
    assert!(matches!(store.commit(b).await, Err(StoreError::ShardOwnershipLost { .. })));
    // A fence naming a shard that does not exist is no lease at all.
    let mut b = batch(&key("nowhere", "r1"), None, 1..2);
    b.fence = Some(Fence { shard_id: 99, range_id: 0 });
    assert!(matches!(store.commit(b).await, Err(StoreError::ShardOwnershipLost { .. })));
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acquisitions_of_one_shard_have_one_winner() {
    let (store, _config, db) = fresh_store(16).await;
    let store = Arc::new(store);
    store.init_shard_count(2).await.unwrap();
    let tries: Vec<_> = (0..12)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.acquire_shard(0, &format!("m{i}"), 0).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tries {
        match t.await.unwrap() {
            Ok(lease) => winners.push(lease),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(store.shard_leases().await.unwrap()[0], winners[0]);
    db.drop_db().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_run_or_workflow_conflict_cleanly() {
    let (store, _config, db) = fresh_store(16).await;
    let store = Arc::new(store);
    let k = key("contended", "r1");
    store.commit(batch(&k, None, 1..2)).await.unwrap();
    // Everyone updates from version 1: one wins, the rest see Conflict.
    let writers: Vec<_> = (0..10)
        .map(|_| {
            let (s, k) = (store.clone(), k.clone());
            tokio::spawn(async move { s.commit(batch(&k, Some(1), 2..3)).await })
        })
        .collect();
    let mut ok = 0;
    for w in writers {
        match w.await.unwrap() {
            Ok(r) => {
                ok += 1;
                assert_eq!(r.db_version, 2);
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("a losing writer must see Conflict, got {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.read_events(&k, 1, i64::MAX, 10).await.unwrap().len(), 2);

    // Everyone starts the same workflow id: one current pointer, the rest Conflict.
    let starters: Vec<_> = (0..10)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                let k = key("started-once", &format!("r{i}"));
                let mut b = batch(&k, None, 1..2);
                b.current = Some(CurrentWrite {
                    condition: CurrentCondition::Absent,
                    value: CurrentRun {
                        run_id: k.run_id.clone(),
                        status: 1,
                        start_request_id: String::new(),
                    },
                });
                (k, s.commit(b).await)
            })
        })
        .collect();
    let mut winner = None;
    for s in starters {
        match s.await.unwrap() {
            (k, Ok(_)) => {
                assert!(winner.is_none(), "two starts won");
                winner = Some(k);
            }
            (k, Err(StoreError::Conflict { .. })) => {
                assert!(store.get_run(&k).await.unwrap().is_none(), "a failed start left its run");
            }
            (_, Err(e)) => panic!("a losing start must see Conflict, got {e:?}"),
        }
    }
    let winner = winner.expect("one start wins");
    assert_eq!(store.current_run("ns", "started-once").await.unwrap().unwrap().run_id, winner.run_id);
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn many_tasks_in_one_batch_get_increasing_ids_in_order() {
    let (store, _config, db) = fresh_store(4).await;
    let k = key("many", "r1");
    let mut b = batch(&k, None, 1..201);
    b.new_tasks = (0..150u32)
        .map(|i| NewTask { fire_at: (i % 3 == 0).then_some(i64::from(i)), data: i.to_be_bytes().to_vec() })
        .collect();
    let r = store.commit(b).await.unwrap();
    assert_eq!(r.task_ids.len(), 150);
    assert!(r.task_ids.windows(2).all(|w| w[0] < w[1]));
    let tasks = store.load_tasks().await.unwrap();
    for (i, id) in r.task_ids.iter().enumerate() {
        let t = tasks.iter().find(|t| t.task_id == *id).unwrap();
        assert_eq!(t.data, (i as u32).to_be_bytes().to_vec(), "task {i} got id {id}");
        assert_eq!(t.shard_id, 0);
    }
    assert_eq!(store.read_events(&k, 1, i64::MAX, 1_000).await.unwrap().len(), 200);
    assert_eq!(store.read_events_reverse(&k, 201, 3).await.unwrap()[0].event_id, 200);
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn registering_attributes_builds_their_indexes() {
    let (store, config, db) = fresh_store(4).await;
    let attrs: Vec<(String, SaType)> = SaType::ALL.iter().map(|t| (format!("Attr{t:?}"), *t)).collect();
    store.add_search_attributes("ns", attrs.clone()).await.unwrap();
    let rows = raw(&config)
        .await
        .query(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname LIKE 'visibility_sa_%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), SaType::ALL.len(), "one index per attribute");
    assert!(rows.iter().all(|r| r.get::<_, bool>(1)), "every index is valid");
    // The same name in another namespace reuses the index.
    store.add_search_attributes("other", vec![("AttrKeyword".into(), SaType::Keyword)]).await.unwrap();
    let n: i64 = raw(&config)
        .await
        .query_one("SELECT count(*) FROM pg_class WHERE relname LIKE 'visibility_sa_%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, SaType::ALL.len() as i64);

    // Filters on them still answer right (with the indexes in place).
    let mut b = batch(&key("idx", "r1"), None, 1..2);
    b.visibility = Some(VisibilityRow {
        namespace_id: "ns".into(),
        workflow_id: "idx".into(),
        run_id: "r1".into(),
        custom: vec![
            ("AttrKeyword".into(), SaValue::Str("k1".into())),
            ("AttrText".into(), SaValue::Str("The quick brown fox".into())),
            ("AttrInt".into(), SaValue::Int(7)),
            ("AttrKeywordList".into(), SaValue::List(vec!["a".into(), "b".into()])),
        ],
        ..Default::default()
    });
    store.commit(b).await.unwrap();
    let count = |expr| {
        let store = &store;
        async move {
            let f = VisibilityFilter { namespace_id: "ns".into(), expr: Some(expr), open: None };
            store.count_runs(&f).await.unwrap()
        }
    };
    let attr = |n: &str, ty| Attr::Custom { name: n.into(), ty };
    use endure_store::visibility::FilterExpr as F;
    assert_eq!(count(F::eq(attr("AttrKeyword", SaType::Keyword), Scalar::Str("k1".into()))).await, 1);
    assert_eq!(count(F::eq(attr("AttrText", SaType::Text), Scalar::Str("QUICK dog".into()))).await, 1);
    assert_eq!(count(F::eq(attr("AttrText", SaType::Text), Scalar::Str("qui".into()))).await, 0);
    assert_eq!(count(F::eq(attr("AttrInt", SaType::Int), Scalar::Int(7))).await, 1);
    assert_eq!(count(F::eq(attr("AttrKeywordList", SaType::KeywordList), Scalar::Str("b".into()))).await, 1);
    // A value stored with another type than the filter's is absent, not an error.
    assert_eq!(count(F::eq(attr("AttrKeyword", SaType::Int), Scalar::Int(1))).await, 0);
    assert_eq!(count(F::IsNull { attr: attr("AttrInt", SaType::KeywordList), negated: false }).await, 1);
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn heartbeats_from_several_members_see_each_other() {
    let (store, _config, db) = fresh_store(8).await;
    let store = Arc::new(store);
    let beats: Vec<_> = ["m3", "m1", "m2"]
        .into_iter()
        .map(|id| {
            let s = store.clone();
            tokio::spawn(async move { s.heartbeat_member(id, &format!("{id}:7234"), 60_000).await })
        })
        .collect();
    for b in beats {
        let live = b.await.unwrap().unwrap();
        assert!(live.windows(2).all(|w| w[0].id < w[1].id), "ordered by id: {live:?}");
    }
    let live = store.heartbeat_member("m2", "m2:7234", 60_000).await.unwrap();
    assert_eq!(live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["m1", "m2", "m3"]);
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn a_closed_store_refuses_calls() {
    let (store, _config, db) = fresh_store(2).await;
    store.close().await.unwrap();
    assert!(matches!(store.namespace_by_name("x").await, Err(StoreError::Closed { .. })));
    assert!(matches!(store.commit(batch(&key("w", "r"), None, 1..2)).await, Err(StoreError::Closed { .. })));
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn scratch_databases_are_dropped_with_their_guard() {
    let (config, db) = fresh_db().await;
    let name = db.name().to_owned();
    assert_eq!(config.database, name);
    let store = PostgresStore::connect_and_migrate(&config).await.unwrap();
    store.create_namespace(NamespaceRow { id: "1".into(), name: "n".into(), data: vec![] }).await.unwrap();
    drop(db); // with the store's connections still open
    let admin = PostgresConfig::from_url(&endure_store_postgres::testing::server_url()).unwrap();
    let n: i64 = raw(&admin)
        .await
        .query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(store.namespace_by_name("n").await.is_err(), "its connections were ended");
}
