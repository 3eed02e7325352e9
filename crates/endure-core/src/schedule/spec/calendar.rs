//! A structured calendar compiled into per-field matchers, and the search for its next time.

use super::zone::{Civil, Zone, days_in_month};
use crate::api::schedule::v1::{Range, StructuredCalendarSpec};

/// The last year a calendar is searched in (the real server's limit).
pub(crate) const MAX_CALENDAR_YEAR: i64 = 2100;
/// The first year a calendar may name.
pub(crate) const MIN_CALENDAR_YEAR: i64 = 2000;

/// The values of one field (second, minute, hour, day of month, month, day of week) as a bit
/// set. Values outside 0 …63 never match (the server's matcher is a 64-bit mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn of(ranges: &[Range]) -> Bits {
        let mut bits = 0u64;
        for_each_value(ranges, 0, 63, |v| bits |= 1 << v);
        Bits(bits)
    }

    fn has(self, v: i64) -> bool {
        (0..64).contains(&v) && self.0 & (1 << v) != 0
    }
}

/// The years a calendar names: no ranges means every year.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Years {
    All,
    /// Bit `y - MIN_TRACKED_YEAR` is set when year `y` matches.
    Some(Vec<u64>),
}

/// Years below this never match a calendar with explicit years (they are validated to be at
/// least 2000, except in exclusions, which only matter from 1970 on).
const MIN_TRACKED_YEAR: i64 = 1900;

impl Years {
    fn of(ranges: &[Range]) -> Years {
        if ranges.is_empty() {
            return Years::All;
        }
        let span = (MAX_CALENDAR_YEAR + 1 - MIN_TRACKED_YEAR) as usize;
        let mut words = vec![0u64; span.div_ceil(64)];
        for_each_value(ranges, MIN_TRACKED_YEAR, MAX_CALENDAR_YEAR + 1, |y| {
            let i = (y - MIN_TRACKED_YEAR) as usize;
            words[i / 64] |= 1 << (i % 64);
        });
        Years::Some(words)
    }

    fn has(&self, y: i64) -> bool {
        match self {
            Years::All => true,
            Years::Some(words) => {
                if !(MIN_TRACKED_YEAR..=MAX_CALENDAR_YEAR + 1).contains(&y) {
                    return false;
                }
                let i = (y - MIN_TRACKED_YEAR) as usize;
                words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
            }
        }
    }
}

/// Calls `f` with every value of `ranges` within `lo ..= hi`. A range's end below its start
/// means the start alone; a step of 0 means 1 (as the server reads them). A negative step, which
/// only an unvalidated exclusion can carry, is read as 1.
fn for_each_value(ranges: &[Range], lo: i64, hi: i64, mut f: impl FnMut(i64)) {
    for r in ranges {
        let start = i64::from(r.start);
        let end = i64::from(r.end).max(start);
        let step = i64::from(r.step).max(1);
        let mut v = start;
        if v < lo {
            // Skip to the first value of the range at or above `lo`.
            v += (lo - v + step - 1) / step * step;
        }
        while v <= end.min(hi) {
            f(v);
            v += step;
        }
    }
}

/// A compiled structured calendar.
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    second: Bits,
    minute: Bits,
    hour: Bits,
    day_of_month: Bits,
    month: Bits,
    day_of_week: Bits,
    year: Years,
    /// Some field has no value it could ever take: the calendar matches nothing.
    never: bool,
}

impl Calendar {
    pub(crate) fn new(spec: &StructuredCalendarSpec) -> Calendar {
        let mut cal = Calendar {
            second: Bits::of(&spec.second),
            minute: Bits::of(&spec.minute),
            hour: Bits::of(&spec.hour),
            day_of_month: Bits::of(&spec.day_of_month),
            month: Bits::of(&spec.month),
            day_of_week: Bits::of(&spec.day_of_week),
            year: Years::of(&spec.year),
            never: false,
        };
        // Spares the search a walk to 2100 (second by second, for an empty second list).
        let none = |bits: Bits, lo: i64, hi: i64| !(lo..=hi).any(|v| bits.has(v));
        cal.never = none(cal.second, 0, 59)
            || none(cal.minute, 0, 59)
            || none(cal.hour, 0, 23)
            || none(cal.day_of_month, 1, 31)
            || none(cal.month, 1, 12)
            || none(cal.day_of_week, 0, 6)
            || !(MIN_TRACKED_YEAR..=MAX_CALENDAR_YEAR).any(|y| cal.year.has(y));
        cal
    }

    /// Whether the wall-clock time of the instant `unix` (seconds) matches.
    pub(crate) fn matches(&self, zone: &Zone, unix: i64) -> bool {
        if self.never {
            return false;
        }
        let c = zone.civil(unix);
        self.year.has(c.year)
            && self.month.has(c.month)
            && self.day_of_month.has(c.day)
            && self.day_of_week.has(c.weekday)
            && self.hour.has(c.hour)
            && self.minute.has(c.minute)
            && self.second.has(c.second)
    }

    /// The first instant (Unix seconds) after `t`, which matches, that does not match; `None`
    /// if every instant matches until after 2100. Jumps over whole minutes, hours and days that
    /// match entirely, never across a change of the zone's offset.
    pub(crate) fn next_non_match(&self, zone: &Zone, t: i64) -> Option<i64> {
        let all = |bits: Bits, lo: i64, hi: i64| (lo..=hi).all(|v| bits.has(v));
        let second_full = all(self.second, 0, 59);
        let minute_full = second_full && all(self.minute, 0, 59);
        let hour_full = minute_full && all(self.hour, 0, 23);
        let day_full = hour_full && all(self.day_of_month, 1, 31) && all(self.day_of_week, 0, 6);
        let mut t = t;
        loop {
            if !self.matches(zone, t) {
                return Some(t);
            }
            let c = zone.civil(t);
            if c.year > MAX_CALENDAR_YEAR {
                return None;
            }
            let into_day = c.hour * 3600 + c.minute * 60 + c.second;
            let candidates = [
                (day_full, 86_400 - into_day),
                (hour_full, 3600 - c.minute * 60 - c.second),
                (minute_full, 60 - c.second),
            ];
            let offset = zone.offset_at(t);
            let step = candidates
                .into_iter()
                .find(|&(whole, step)| whole && zone.offset_at(t + step - 1) == offset)
                .map_or(1, |(_, step)| step);
            t += step;
        }
    }

    /// The first instant (Unix seconds) strictly after `after` whose wall-clock time matches,
    /// searched as the real server searches: field by field from the year inwards on the wall
    /// clock, each candidate turned into an instant the way Go's `time.Date` does. Across a DST
    /// change that means: a wall-clock time in a gap is skipped; in a repeated hour both
    /// occurrences are visited where Go resolves the hour to its first occurrence (zones west
    /// of UTC), while where it resolves to the second (a zone at UTC in winter, like London) the
    /// first occurrence is visited as if it were the previous hour plus an hour. `None` past
    /// the year 2100.
    pub(crate) fn next(&self, zone: &Zone, after: i64) -> Option<i64> {
        const HOUR: i64 = 3600;
        if self.never {
            return None;
        }
        let Civil {
            year: mut y, month: mut mo, day: mut d, hour: mut h, minute: mut m, second: mut s, ..
        } = zone.civil(after);
        // In the second copy of a repeated hour, the wall clock an hour earlier shows the same
        // hour: the search continues on that copy.
        let mut dst_offset = if zone.civil(after - HOUR).hour == h { HOUR } else { 0 };
        s += 1;
        'outer: loop {
            // Carries.
            if s >= 60 {
                m += 1;
                s = 0;
            }
            if m >= 60 {
                let prev = zone.resolve(y, mo, d, h, 0, 0);
                h += 1;
                m = 0;
                let next = zone.resolve(y, mo, d, h, 0, 0);
                // The next hour starts more than an hour later: a repeated hour was passed
                // over; go through it again an hour later.
                if dst_offset == 0 && next - prev > HOUR {
                    h -= 1;
                    dst_offset = HOUR;
                } else {
                    dst_offset = 0;
                }
            }
            if h >= 24 {
                d += 1;
                h = 0;
            }
            if d > days_in_month(mo, y) {
                mo += 1;
                d = 1;
            }
            if mo > 12 {
                y += 1;
                mo = 1;
            }
            if y > MAX_CALENDAR_YEAR {
                return None;
            }
            // Match from the outside in.
            if !self.year.has(y) {
                (y, mo, d, h, m, s) = (y + 1, 1, 1, 0, 0, 0);
                dst_offset = 0;
                continue 'outer;
            }
            while !self.month.has(mo) {
                (mo, d, h, m, s) = (mo + 1, 1, 0, 0, 0);
                dst_offset = 0;
                if mo > 12 {
                    continue 'outer;
                }
            }
            while !self.day_of_month.has(d)
                || !self.day_of_week.has(zone.civil(zone.resolve(y, mo, d, h, m, s)).weekday)
            {
                (d, h, m, s) = (d + 1, 0, 0, 0);
                dst_offset = 0;
                if d > days_in_month(mo, y) {
                    continue 'outer;
                }
            }
            while !self.hour.has(h) {
                (h, m, s) = (h + 1, 0, 0);
                dst_offset = 0;
                if h >= 24 {
                    continue 'outer;
                }
            }
            while !self.minute.has(m) {
                (m, s) = (m + 1, 0);
                if m >= 60 {
                    continue 'outer;
                }
            }
            while !self.second.has(s) {
                s += 1;
                if s >= 60 {
                    continue 'outer;
                }
            }
            let found = zone.resolve(y, mo, d, h, m, s);
            // A wall-clock time in a gap resolves to another hour: skip it.
            if zone.civil(found).hour != h {
                (h, m, s) = (h + 1, 0, 0);
                continue 'outer;
            }
            return Some(found + dst_offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    #[test]
    fn ranges_read_as_the_server_reads_them() {
        assert_eq!(Bits::of(&[r(5, 0, 0)]).0, 1 << 5, "end below start: the start alone");
        assert_eq!(Bits::of(&[r(1, 7, 3)]).0, (1 << 1) | (1 << 4) | (1 << 7));
        assert_eq!(Bits::of(&[r(99, 0, 0)]).0, 0, "values past 63 never match");
        assert_eq!(Bits::of(&[r(-3, 2, 2)]).0, (1 << 1), "negative values are skipped");
        assert_eq!(Bits::of(&[r(0, i32::MAX, 1)]).0, u64::MAX, "huge ranges stop at 63");
        assert_eq!(Bits::of(&[]).0, 0, "no ranges: nothing matches");
        let years = Years::of(&[r(2024, 2100, 4)]);
        assert!(years.has(2024) && years.has(2028) && years.has(2100) && !years.has(2025));
        assert!(Years::of(&[]).has(1999), "no year ranges: every year");
    }

    #[test]
    fn next_finds_the_first_match_after() {
        let every_day_at_nine = Calendar::new(&StructuredCalendarSpec {
            second: vec![r(0, 0, 0)],
            minute: vec![r(0, 0, 0)],
            hour: vec![r(9, 0, 0)],
            day_of_month: vec![r(1, 31, 0)],
            month: vec![r(1, 12, 0)],
            day_of_week: vec![r(0, 6, 0)],
            ..Default::default()
        });
        let nine = 1_704_099_600; // 2024-01-01T09:00:00Z
        assert_eq!(every_day_at_nine.next(&Zone::Utc, nine - 1), Some(nine));
        assert_eq!(every_day_at_nine.next(&Zone::Utc, nine), Some(nine + 86_400));
        assert!(every_day_at_nine.matches(&Zone::Utc, nine));
        assert!(!every_day_at_nine.matches(&Zone::Utc, nine + 1));
        assert_eq!(every_day_at_nine.next(&Zone::Utc, 4_133_980_800), None, "2101 is past the end");
    }

    #[test]
    fn a_field_with_no_values_matches_nothing_at_once() {
        let no_seconds = Calendar::new(&StructuredCalendarSpec {
            minute: vec![r(0, 59, 0)],
            hour: vec![r(0, 23, 0)],
            day_of_month: vec![r(1, 31, 0)],
            month: vec![r(1, 12, 0)],
            day_of_week: vec![r(0, 6, 0)],
            ..Default::default()
        });
        assert_eq!(no_seconds.next(&Zone::Utc, 0), None);
        assert!(!no_seconds.matches(&Zone::Utc, 0));
        let past_years = Calendar::new(&StructuredCalendarSpec {
            second: vec![r(0, 59, 0)],
            minute: vec![r(0, 59, 0)],
            hour: vec![r(0, 23, 0)],
            day_of_month: vec![r(1, 31, 0)],
            month: vec![r(1, 12, 0)],
            day_of_week: vec![r(0, 6, 0)],
            year: vec![r(2200, 0, 0)],
            ..Default::default()
        });
        assert_eq!(past_years.next(&Zone::Utc, 0), None);
    }
}
