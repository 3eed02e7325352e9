//! Schedule specs: when a schedule's actions are due, computed as the real Temporal server
//! computes them (validated against it: `tests/schedule_spec.rs` replays answers recorded from
//! the real server by `scripts/record-schedule-spec-fixtures.py`).
//!
//! A [`ScheduleSpec`] says when with any mix of:
//! - `interval`: every `interval` since the Unix epoch, shifted by `phase` (whole seconds; time
//!   zones do not apply);
//! - `structured_calendar`: ranges per field (second, minute, hour, day of month, month, year,
//!   day of week) matched on the wall clock of `timezone_name`;
//! - `calendar`: the same with text fields (`*`, `1-5`, `*/15`, `mon-fri`, `jan,jul` …);
//! - `cron_string`: cron in 5, 6 (+ year) or 7 (second first) fields, `@every 1h[/15m]`, the
//!   descriptors `@hourly` … `@yearly`, a `CRON_TZ=`/`TZ=` prefix and a `# comment`;
//!
//! minus the times matched by `exclude_calendar` / `exclude_structured_calendar`, within
//! `start_time ..= end_time`, each action moved later by a deterministic `jitter`.
//!
//! The server's quirks are kept on purpose, since clients compare against them: calendars stop
//! after 2100; a `Range` with `end` below `start` is the start alone and `step` 0 is 1;
//! exclusions of the structured form are not validated; day-of-week text `1-7` leaves Sunday
//! out; a start time's fraction of a second is ignored when matching (03:00:00 matches a start
//! of 03:00:00.5); DST gaps and repeated hours are resolved as Go's `time.Date` resolves them
//! (see `zone.rs`).

mod calendar;
mod jitter;
mod parse;
mod zone;

use calendar::{Calendar, MAX_CALENDAR_YEAR};
use zone::{Zone, days_from_civil};

use crate::api::schedule::v1::{IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec};
use crate::time::{self, Nanos};

/// The prefix of every invalid-spec message, as the real server words it.
pub const INVALID_SPEC_PREFIX: &str = "Invalid schedule spec: ";

/// The most times ListScheduleMatchingTimes returns (the real server's limit).
pub const MAX_MATCHING_TIMES: usize = 1000;

/// The longest calendar comment, in bytes.
const MAX_COMMENT_LEN: usize = 200;

const SECOND: Nanos = time::SECOND;

/// A validated spec, ready to compute times.
#[derive(Clone, Debug)]
pub struct CompiledSpec {
    /// What DescribeSchedule shows.
    canonical: ScheduleSpec,
    zone: Zone,
    calendars: Vec<Calendar>,
    excludes: Vec<Calendar>,
    /// (interval, phase) in whole seconds.
    intervals: Vec<(i64, i64)>,
    start: Option<Nanos>,
    end: Option<Nanos>,
    /// The most an action is moved (may be negative: then none).
    jitter: Nanos,
}

impl CompiledSpec {
    /// Validates `spec` as the real server does. The error is the whole message the server
    /// sends with InvalidArgument (`Invalid schedule spec: …`).
    pub fn compile(spec: &ScheduleSpec) -> Result<CompiledSpec, String> {
        let mut canonical = canonical_form(spec).map_err(|e| format!("{INVALID_SPEC_PREFIX}{e}"))?;
        let zone = Zone::load(&canonical.timezone_name, &canonical.timezone_data)
            .map_err(|e| format!("{INVALID_SPEC_PREFIX}{e}"))?;
        let calendars = canonical.structured_calendar.iter().map(Calendar::new).collect();
        let excludes = canonical.exclude_structured_calendar.iter().map(Calendar::new).collect();
        let intervals = canonical
            .interval
            .iter()
            .map(|iv| {
                let interval = (go_duration(&iv.interval) / SECOND).max(1);
                let phase = (go_duration(&iv.phase) / SECOND).max(0);
                (interval, phase)
            })
            .collect();
        let start = canonical.start_time.as_ref().map(time::from_timestamp);
        let end = canonical.end_time.as_ref().map(time::from_timestamp);
        let jitter = go_duration(&canonical.jitter);
        clean_ranges(&mut canonical);
        Ok(CompiledSpec { canonical, zone, calendars, excludes, intervals, start, end, jitter })
    }

    /// The spec as DescribeSchedule returns it (see [`canonicalize`]).
    pub fn canonical(&self) -> &ScheduleSpec {
        &self.canonical
    }

    /// The first action time strictly after `after`: (nominal, actual), where actual is the
    /// nominal time plus jitter. `None` when there is none (past the end time or 2100, or a
    /// spec with no times). Nominal times are whole seconds, and `after`'s fraction of a second is ignored
    /// (as on the server): after 9.999 s, a 10 s interval's next time is 10 s.
    ///
    /// The jitter is a deterministic function of `jitter_seed` and the nominal time, in whole
    /// milliseconds, in [0, min(spec jitter, time to the following nominal time)); the real
    /// server's seed is `<namespace id>-<schedule id>`, and with it the times are the server's.
    pub fn next(&self, jitter_seed: &str, after: Nanos) -> Option<(Nanos, Nanos)> {
        let mut after = after;
        if let Some(start) = self.start {
            // From just before the start, so that a time at the start itself counts.
            after = after.max(start.saturating_sub(SECOND));
        }
        let nominal = loop {
            let nominal = self.raw_next(after)?;
            if self.past_end(nominal) {
                return None;
            }
            match self.excluded_until(nominal) {
                None => break nominal,
                // Excluded through 2100.
                Some(None) => return None,
                Some(Some(until)) => {
                    if self.past_end(until) {
                        return None;
                    }
                    // The first time not excluded may itself match.
                    after = (until - 1).saturating_mul(SECOND);
                }
            }
        };
        let mut max_jitter = self.jitter;
        if let Some(following) = self.raw_next(nominal.saturating_mul(SECOND)) {
            max_jitter = max_jitter.min((following - nominal).saturating_mul(SECOND));
        }
        let nominal_ns = nominal.saturating_mul(SECOND);
        Some((nominal_ns, nominal_ns.saturating_add(jitter::jitter(jitter_seed, nominal, max_jitter))))
    }

    /// The action times in (`start`, `end`], as ListScheduleMatchingTimes lists them: actual
    /// (jittered) times, each search continuing from the previous actual time, at most
    /// [`MAX_MATCHING_TIMES`]. A jittered time past `end` ends the list.
    pub fn matching_times(&self, jitter_seed: &str, start: Nanos, end: Nanos) -> Vec<Nanos> {
        let mut out = Vec::new();
        let mut t = start;
        while out.len() < MAX_MATCHING_TIMES {
            match self.next(jitter_seed, t) {
                Some((_, actual)) if actual <= end => {
                    out.push(actual);
                    t = actual;
                }
                _ => break,
            }
        }
        out
    }

    /// The next time of any calendar or interval strictly after `after` (Unix seconds), with
    /// no exclusions, start or end applied.
    fn raw_next(&self, after: Nanos) -> Option<i64> {
        let after = after.div_euclid(SECOND);
        let calendars = self.calendars.iter().filter_map(|c| c.next(&self.zone, after));
        let intervals = self.intervals.iter().map(|&(interval, phase)| {
            // Go's integer division (toward zero), as the server computes it.
            ((after - phase) / interval + 1) * interval + phase
        });
        calendars.chain(intervals).min()
    }

    /// Whether the nominal time `t` (Unix seconds) is past the end time, or in a year after
    /// 2100 (UTC).
    fn past_end(&self, t: i64) -> bool {
        let year_2101 = days_from_civil(MAX_CALENDAR_YEAR + 1, 1, 1) * 86_400;
        t >= year_2101 || self.end.is_some_and(|end| t.saturating_mul(SECOND) > end)
    }

    /// `None` if no exclusion matches `t`; else the first second after `t` that none of the
    /// exclusions matching `t` matches (`Some(None)`: none before 2100).
    fn excluded_until(&self, t: i64) -> Option<Option<i64>> {
        let mut until: Option<Option<i64>> = None;
        for exclusion in &self.excludes {
            if exclusion.matches(&self.zone, t) {
                let next = exclusion.next_non_match(&self.zone, t);
                until = Some(match (until, next) {
                    (_, None) | (Some(None), _) => None,
                    (None, Some(n)) => Some(n),
                    (Some(Some(u)), Some(n)) => Some(u.max(n)),
                });
            }
        }
        until
    }
}

/// The spec as the real server stores it and returns it from DescribeSchedule and
/// ListSchedules: `calendar` entries, then cron strings, appended to `structured_calendar` (and
/// `@every` cron strings to `interval`), `exclude_calendar` appended to
/// `exclude_structured_calendar`, a cron string's time zone copied to `timezone_name`, and in
/// every range an end below the start set to the start and a step of 0 set to 1. Err: the
/// server's InvalidArgument message.
pub fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    CompiledSpec::compile(spec).map(|c| c.canonical)
}

/// The spec a schedule's ListSchedules entry shows (`ScheduleListInfo.spec`): the canonical
/// spec without `timezone_data`.
pub fn list_info_spec(canonical: &ScheduleSpec) -> ScheduleSpec {
    ScheduleSpec { timezone_data: Vec::new(), ..canonical.clone() }
}

/// The server's canonicalisation and validation, in its order (the first error wins).
#[allow(deprecated)] // `exclude_calendar` is deprecated in the API, still honoured.
fn canonical_form(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    let mut spec = spec.clone();
    for cal in std::mem::take(&mut spec.calendar) {
        spec.structured_calendar.push(parse::parse_calendar(&cal)?);
    }
    for cal in std::mem::take(&mut spec.exclude_calendar) {
        spec.exclude_structured_calendar.push(parse::parse_calendar(&cal)?);
    }
    // Every cron string must name the same zone, or none.
    let mut cron_zone: Option<String> = None;
    for text in std::mem::take(&mut spec.cron_string) {
        let (cron, zone) = parse::parse_cron(&text)?;
        if cron_zone.as_ref().is_some_and(|z| *z != zone) {
            return Err(CONFLICTING_ZONES.to_string());
        }
        cron_zone = Some(zone);
        match cron {
            parse::Cron::Calendar(cal) => spec.structured_calendar.push(cal),
            parse::Cron::Interval(iv) => spec.interval.push(iv),
        }
    }
    if let Some(zone) = cron_zone.filter(|z| !z.is_empty()) {
        if (!spec.timezone_name.is_empty() && spec.timezone_name != zone) || !spec.timezone_data.is_empty() {
            return Err(CONFLICTING_ZONES.to_string());
        }
        spec.timezone_name = zone;
    }
    for cal in &spec.structured_calendar {
        validate_calendar(cal)?;
    }
    for iv in &spec.interval {
        validate_interval(iv)?;
    }
    Ok(spec)
}

const CONFLICTING_ZONES: &str = "conflicting timezone names";

fn validate_calendar(cal: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut check = |ranges: &[Range], field: &str, min: i32, max: i32| {
        for r in ranges {
            if r.start < min || r.start > max {
                errors.push(format!("{field} Start is not in range [{min}-{max}]"));
            }
            if r.end != 0 && (r.end < r.start || r.end > max) {
                errors.push(format!("{field} End is before Start or not in range [{min}-{max}]"));
            }
            if r.step < 0 {
                errors.push(format!("{field} has invalid Step"));
            }
        }
    };
    check(&cal.second, "Second", 0, 59);
    check(&cal.minute, "Minute", 0, 59);
    check(&cal.hour, "Hour", 0, 23);
    check(&cal.day_of_month, "DayOfMonth", 1, 31);
    check(&cal.month, "Month", 1, 12);
    check(&cal.year, "Year", calendar::MIN_CALENDAR_YEAR as i32, MAX_CALENDAR_YEAR as i32);
    check(&cal.day_of_week, "DayOfWeek", 0, 6);
    if cal.comment.len() > MAX_COMMENT_LEN {
        errors.push("comment is too long".to_string());
    }
    if errors.is_empty() { Ok(()) } else { Err(format!("invalid calendar spec: {}", errors.join(", "))) }
}

fn validate_interval(iv: &IntervalSpec) -> Result<(), String> {
    let interval = go_duration(&iv.interval);
    let phase = go_duration(&iv.phase);
    if interval < SECOND {
        Err("interval is too small".to_string())
    } else if phase < 0 {
        Err("phase is negative".to_string())
    } else if phase >= interval {
        Err("phase cannot be greater than Interval".to_string())
    } else {
        Ok(())
    }
}

/// A protobuf duration as Go reads it (`AsDuration`): absent is 0, overflow saturates, negative
/// stays negative.
fn go_duration(d: &Option<prost_wkt_types::Duration>) -> Nanos {
    d.as_ref().map_or(0, |d| {
        let n = i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos);
        n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as Nanos
    })
}

/// What DescribeSchedule adds to the stored spec: every range's end at least its start, and
/// its step at least 1 where it was 0.
fn clean_ranges(spec: &mut ScheduleSpec) {
    let calendars = spec.structured_calendar.iter_mut().chain(spec.exclude_structured_calendar.iter_mut());
    for cal in calendars {
        let fields = [
            &mut cal.second,
            &mut cal.minute,
            &mut cal.hour,
            &mut cal.day_of_month,
            &mut cal.month,
            &mut cal.year,
            &mut cal.day_of_week,
        ];
        for r in fields.into_iter().flatten() {
            if r.end < r.start {
                r.end = r.start;
            }
            if r.step == 0 {
                r.step = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schedule::v1::CalendarSpec;
    use proptest::prelude::*;

    /// The search without jumps over excluded stretches: nominal time after nominal time.
    fn stepwise_next(cs: &CompiledSpec, after: Nanos) -> Option<i64> {
        let mut after = after;
        if let Some(start) = cs.start {
            after = after.max(start - SECOND);
        }
        loop {
            let nominal = cs.raw_next(after)?;
            if cs.past_end(nominal) {
                return None;
            }
            if !cs.excludes.iter().any(|e| e.matches(&cs.zone, nominal)) {
                return Some(nominal);
            }
            after = nominal * SECOND;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        #[allow(deprecated)] // `exclude_calendar` is deprecated in the API, still honoured.
        fn jumping_over_exclusions_finds_what_stepping_finds(
            zone in prop::sample::select(vec!["", "America/New_York", "Europe/London", "Australia/Lord_Howe"]),
            every in prop::sample::select(vec![1i64, 7, 60, 900]),
            hours in 0i64..6,
            minutes in prop::sample::select(vec!["*", "0-29", "15", "*/20"]),
            days in prop::sample::select(vec!["*", "*", "sat,sun", "mon-fri"]),
            // Around the 2024 DST changes of the zones above.
            after in prop::sample::select(vec![
                1_709_942_400i64, 1_711_756_800, 1_712_361_600, 1_728_086_400, 1_729_900_800, 1_730_505_600,
            ]),
            offset in 0i64..86_400,
        ) {
            // Excluded from the local hour of the first search on.
            let first_hour = Zone::load(zone, &[]).map_err(TestCaseError::fail)?.civil(after + offset).hour;
            let last_hour = (first_hour + hours).min(23);
            let spec = ScheduleSpec {
                cron_string: vec![format!("@every {every}s")],
                exclude_calendar: vec![CalendarSpec {
                    second: "*".into(),
                    minute: minutes.into(),
                    hour: format!("{first_hour}-{last_hour}"),
                    day_of_week: days.into(),
                    ..Default::default()
                }],
                timezone_name: zone.into(),
                ..Default::default()
            };
            let cs = CompiledSpec::compile(&spec).map_err(TestCaseError::fail)?;
            let mut t = (after + offset) * SECOND;
            let mut jumps = 0;
            for _ in 0..20 {
                if cs.excluded_until(t / SECOND + 1).is_some() {
                    jumps += 1;
                }
                let want = stepwise_next(&cs, t);
                let got = cs.next("", t).map(|(nominal, _)| nominal / SECOND);
                prop_assert_eq!(got, want);
                match got {
                    Some(n) => t = n * SECOND,
                    None => break,
                }
            }
            // The window starts inside an exclusion unless the first second is not excluded.
            prop_assert!(jumps > 0 || minutes != "*" || days != "*");
        }
    }
}
