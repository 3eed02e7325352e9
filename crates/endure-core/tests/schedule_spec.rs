//! The schedule-spec engine against answers recorded from the real Temporal server
//! (`schedule_spec/fixtures.json`, written by `scripts/record-schedule-spec-fixtures.py`):
//! for every spec in the corpus, CreateSchedule's InvalidArgument message, or the canonical
//! spec DescribeSchedule and ListSchedules return and ListScheduleMatchingTimes over fixed
//! windows.

use base64::Engine;
use endure_core::api::schedule::v1::ScheduleSpec;
use endure_core::schedule::spec::{CompiledSpec, MAX_MATCHING_TIMES, canonicalize, list_info_spec};
use prost::Message;
use serde_json::Value;

struct Window {
    start: i64,
    end: i64,
    times: Vec<i64>,
}

struct Case {
    name: String,
    spec: ScheduleSpec,
    schedule_id: String,
    error: Option<String>,
    canonical: Option<ScheduleSpec>,
    list_spec: Option<ScheduleSpec>,
    windows: Vec<Window>,
}

struct Fixtures {
    namespace_id: String,
    cases: Vec<Case>,
}

fn decode(v: &Value) -> Option<ScheduleSpec> {
    let text = v.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).expect("base64");
    Some(ScheduleSpec::decode(bytes.as_slice()).expect("a ScheduleSpec"))
}

fn fixtures() -> Fixtures {
    let text = include_str!("schedule_spec/fixtures.json");
    let root: Value = serde_json::from_str(text).expect("fixtures.json is JSON");
    let cases = root["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            spec: decode(&c["spec_b64"]).expect("spec_b64"),
            schedule_id: c["schedule_id"].as_str().expect("schedule_id").to_string(),
            error: c["error"]["message"].as_str().map(str::to_string),
            canonical: decode(&c["canonical_b64"]),
            list_spec: decode(&c["list_spec_b64"]),
            windows: c["windows"]
                .as_array()
                .map(|ws| {
                    ws.iter()
                        .map(|w| Window {
                            start: w["start_ns"].as_i64().expect("start_ns"),
                            end: w["end_ns"].as_i64().expect("end_ns"),
                            times: w["times_ns"]
                                .as_array()
                                .expect("times_ns")
                                .iter()
                                .map(|t| t.as_i64().expect("a time"))
                                .collect(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Fixtures { namespace_id: root["namespace_id"].as_str().expect("namespace_id").to_string(), cases }
}

fn fmt_times(times: &[i64]) -> String {
    let show = |t: &i64| {
        let secs = t.div_euclid(1_000_000_000);
        let ms = t.rem_euclid(1_000_000_000) / 1_000_000;
        let dt = chrono::DateTime::from_timestamp(secs, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string());
        format!("{}.{ms:03}Z", dt.unwrap_or_default())
    };
    times.iter().map(show).collect::<Vec<_>>().join(", ")
}

fn has_jitter(spec: &ScheduleSpec) -> bool {
    spec.jitter.as_ref().is_some_and(|j| j.seconds > 0 || j.nanos >= 1_000_000)
}

#[test]
fn the_corpus_is_broad() {
    let f = fixtures();
    let errors = f.cases.iter().filter(|c| c.error.is_some()).count();
    let valid = f.cases.len() - errors;
    assert!(valid >= 40, "{valid} valid cases");
    assert!(errors >= 30, "{errors} invalid cases");
    assert!(f.cases.iter().any(|c| has_jitter(&c.spec)));
}

#[test]
fn invalid_specs_fail_with_the_servers_message() {
    let mut failures = Vec::new();
    for case in fixtures().cases {
        let Some(want) = &case.error else { continue };
        match CompiledSpec::compile(&case.spec) {
            Ok(_) => failures.push(format!("{}: accepted, the server said {want:?}", case.name)),
            Err(got) if got != *want => {
                failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name))
            }
            Err(_) => {}
        }
        assert_eq!(canonicalize(&case.spec).err().as_ref(), Some(want), "{}", case.name);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn canonical_specs_are_the_servers() {
    let mut failures = Vec::new();
    for case in fixtures().cases {
        let Some(want) = &case.canonical else { continue };
        let got = match canonicalize(&case.spec) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{}: rejected: {e}", case.name));
                continue;
            }
        };
        if got != *want {
            failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name));
        }
        // ListSchedules shows the same spec as DescribeSchedule, less any time zone data.
        assert_eq!(case.list_spec, Some(list_info_spec(want)), "{}: list spec", case.name);
        // Canonicalising is idempotent, and the canonical form means the same.
        assert_eq!(canonicalize(want).as_ref(), Ok(want), "{}: idempotent", case.name);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn matching_times_are_the_servers() {
    let f = fixtures();
    let mut failures = Vec::new();
    let mut windows = 0;
    for case in &f.cases {
        if case.canonical.is_none() {
            continue;
        }
        let compiled = CompiledSpec::compile(&case.spec).expect("valid");
        let recompiled = CompiledSpec::compile(compiled.canonical()).expect("canonical is valid");
        // The server's jitter seed: with it the jittered times are the server's exactly.
        let seed = format!("{}-{}", f.namespace_id, case.schedule_id);
        for w in &case.windows {
            windows += 1;
            let got = compiled.matching_times(&seed, w.start, w.end);
            if got != w.times {
                failures.push(format!(
                    "{} ({} .. {}):\n   got [{}]\n  want [{}]",
                    case.name,
                    fmt_times(&[w.start]),
                    fmt_times(&[w.end]),
                    fmt_times(&got),
                    fmt_times(&w.times)
                ));
            }
            assert_eq!(recompiled.matching_times(&seed, w.start, w.end), got, "{}", case.name);
        }
    }
    assert!(windows >= 100, "{windows} windows");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn jitter_stays_within_its_bounds_and_is_deterministic() {
    let f = fixtures();
    let mut checked = 0;
    for case in f.cases.iter().filter(|c| c.canonical.is_some() && has_jitter(&c.spec)) {
        let compiled = CompiledSpec::compile(&case.spec).expect("valid");
        let jitter = case.spec.jitter.as_ref().map_or(0, |j| j.seconds * 1_000_000_000 + i64::from(j.nanos));
        let mut without = case.spec.clone();
        without.jitter = None;
        let plain = CompiledSpec::compile(&without).expect("valid");
        for w in &case.windows {
            let mut t = w.start;
            for _ in 0..50 {
                let Some((nominal, actual)) = compiled.next("some seed", t) else { break };
                // The nominal time is the one without jitter; the following one bounds it.
                assert_eq!(plain.next("", t), Some((nominal, nominal)), "{}", case.name);
                let following = plain.next("", nominal).map(|(n, _)| n);
                let bound = following.map_or(jitter, |n| jitter.min(n - nominal));
                assert!(
                    (nominal..nominal + bound.max(1)).contains(&actual),
                    "{}: {} not within [{}, +{bound} ns)",
                    case.name,
                    fmt_times(&[actual]),
                    fmt_times(&[nominal])
                );
                assert_eq!(compiled.next("some seed", t), Some((nominal, actual)), "deterministic");
                checked += 1;
                t = actual;
            }
        }
    }
    assert!(checked >= 50, "{checked} jittered times checked");
}

#[test]
fn matching_times_stop_at_the_servers_limit() {
    let f = fixtures();
    let case = f.cases.iter().find(|c| c.name == "interval_one_second_capped").expect("case");
    assert_eq!(case.windows[0].times.len(), MAX_MATCHING_TIMES);
}

#[test]
fn next_reports_nominal_and_actual_times() {
    let spec = ScheduleSpec {
        cron_string: vec!["CRON_TZ=America/New_York 30 2 * * *".to_string()],
        jitter: Some(prost_wkt_types::Duration { seconds: 600, nanos: 0 }),
        ..Default::default()
    };
    let compiled = CompiledSpec::compile(&spec).expect("valid");
    // 2024-03-09T00:00:00Z: the next 02:30 in New York is 07:30Z that day; on 2024-03-10 02:30
    // does not exist, so the one after is 2024-03-11T06:30Z (EDT).
    let (nominal, actual) = compiled.next("seed", 1_709_942_400_000_000_000).expect("a time");
    assert_eq!(nominal, 1_709_969_400_000_000_000);
    assert!((nominal..nominal + 600_000_000_000).contains(&actual));
    let (nominal, _) = compiled.next("seed", actual).expect("a time");
    assert_eq!(nominal, 1_710_138_600_000_000_000);
    // Past the end time: none.
    let ended = CompiledSpec::compile(&ScheduleSpec {
        end_time: Some(prost_wkt_types::Timestamp { seconds: 1_710_000_000, nanos: 0 }),
        ..spec
    })
    .expect("valid");
    assert_eq!(ended.next("seed", 1_710_000_000_000_000_000), None);
    assert_eq!(CompiledSpec::compile(&ScheduleSpec::default()).expect("valid").next("s", 0), None);
}

#[test]
#[allow(deprecated)] // `exclude_calendar` is deprecated in the API, still honoured.
fn exclusions_of_every_second_end_quickly() {
    // An interval of one second excluded everywhere: the search must jump over excluded days
    // rather than try each second until 2100.
    let spec = ScheduleSpec {
        cron_string: vec!["@every 1s".to_string()],
        exclude_calendar: vec![endure_core::api::schedule::v1::CalendarSpec {
            second: "*".into(),
            minute: "*".into(),
            hour: "*".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let compiled = CompiledSpec::compile(&spec).expect("valid");
    assert_eq!(compiled.next("s", 1_704_067_200_000_000_000), None);
}
