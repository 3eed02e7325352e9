//! Time zones and civil (wall-clock) time, at one-second resolution.
//!
//! The real server does its calendar arithmetic with Go's `time` package, and some of its
//! answers around DST changes follow from how Go's `time.Date` resolves a wall-clock time that
//! does not exist (a gap) or exists twice (a repeated hour). [`Zone::resolve`] reproduces that
//! resolution so the calendar search lands where the server's does.

use jiff::Timestamp;
use jiff::tz::{TimeZone, TimeZoneDatabase};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// A time zone a spec is interpreted in.
#[derive(Clone, Debug)]
pub(crate) enum Zone {
    /// UTC (the default, also `UTC` and Go's `Local`, which is UTC on a server without a local
    /// zone).
    Utc,
    /// A zone from the IANA database (bundled) or from `timezone_data`.
    Tz(TimeZone),
}

impl Zone {
    /// Loads a zone as Go's `time.LoadLocation` does (`data` non-empty:
    /// `time.LoadLocationFromTZData`), with Go's error messages.
    pub(crate) fn load(name: &str, data: &[u8]) -> Result<Zone, String> {
        if !data.is_empty() {
            return TimeZone::tzif(name, data)
                .map(Zone::Tz)
                .map_err(|_| "malformed time zone information".to_string());
        }
        match name {
            "" | "UTC" | "Local" => return Ok(Zone::Utc),
            _ => {}
        }
        if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
            return Err("time: invalid location name".to_string());
        }
        // The bundled database only: no file reads, the same answers on every machine. Its
        // look-ups ignore case; Go's (file names) do not.
        let unknown = || format!("unknown time zone {name}");
        let tz = TimeZoneDatabase::bundled().get(name).map_err(|_| unknown())?;
        if tz.iana_name() != Some(name) {
            return Err(unknown());
        }
        Ok(Zone::Tz(tz))
    }

    /// The zone's offset from UTC, in seconds, at the instant `unix` (seconds).
    pub(crate) fn offset_at(&self, unix: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Tz(tz) => {
                let ts =
                    Timestamp::from_second(unix.clamp(MIN_UNIX, MAX_UNIX)).unwrap_or(Timestamp::UNIX_EPOCH);
                i64::from(tz.to_offset(ts).seconds())
            }
        }
    }

    /// The wall-clock time at the instant `unix` (Go's `t.In(zone)`).
    pub(crate) fn civil(&self, unix: i64) -> Civil {
        Civil::from_local_seconds(unix + self.offset_at(unix))
    }

    /// The instant of a wall-clock time, as Go's `time.Date` picks it: the fields may overflow
    /// (hour 24 is the next day's midnight, day 32 the next month's first …). Go looks up the
    /// zone's offset at the wall-clock seconds taken as if they were UTC; when that offset is
    /// not zero it corrects it once by the offset in force at the instant it implies. So a time
    /// in a gap or a repeated hour resolves differently in a zone west of UTC (New York: a gap
    /// time moves back an hour, a repeated time is its first occurrence) than in one at UTC in
    /// winter (London: a gap time moves forward, a repeated time is its second occurrence).
    pub(crate) fn resolve(&self, y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
        let local = local_seconds(y, mo, d, h, mi, s);
        let first = self.offset_at(local);
        if first == 0 {
            return local;
        }
        local - self.offset_at(local - first)
    }
}

/// Instants that jiff can represent (years -9999 … 9999), in Unix seconds.
const MIN_UNIX: i64 = -377_705_116_800;
const MAX_UNIX: i64 = 253_402_207_200;

/// A wall-clock time at one-second resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1 = January.
    pub month: i64,
    /// 1 …
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    /// 0 = Sunday.
    pub weekday: i64,
}

impl Civil {
    /// The civil time `local` seconds after 1970-01-01T00:00:00 (on a clock with no zone).
    pub(crate) fn from_local_seconds(local: i64) -> Civil {
        let days = local.div_euclid(DAY);
        let secs = local.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday (4).
            weekday: (days + 4).rem_euclid(7),
        }
    }
}

/// Seconds since 1970-01-01T00:00:00 of a wall-clock time whose fields may overflow, the way
/// Go's `time.Date` normalises them.
pub(crate) fn local_seconds(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    let y = y + (mo - 1).div_euclid(12);
    let mo = (mo - 1).rem_euclid(12) + 1;
    let days = days_from_civil(y, mo, 1) + (d - 1);
    days * DAY + h * 3600 + mi * 60 + s
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1 …12, day 1 …).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` days after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `y` is a leap year.
pub(crate) fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// The number of days in month `m` (1 …12) of year `y`.
pub(crate) fn days_in_month(m: i64, y: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_723, 47_482, 800_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        let c = Civil::from_local_seconds(1_704_067_199);
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute, c.second), (2023, 12, 31, 23, 59, 59));
        assert_eq!(c.weekday, 0, "2023-12-31 was a Sunday");
        assert_eq!(local_seconds(2023, 13, 1, 0, 0, 0), 1_704_067_200, "month 13 is next January");
        assert_eq!(local_seconds(2023, 12, 31, 24, 0, 0), 1_704_067_200, "hour 24 is next midnight");
    }

    #[test]
    fn loads_zones_as_go_does() {
        assert!(matches!(Zone::load("", &[]), Ok(Zone::Utc)));
        assert!(matches!(Zone::load("Local", &[]), Ok(Zone::Utc)));
        assert!(matches!(Zone::load("America/New_York", &[]), Ok(Zone::Tz(_))));
        assert!(matches!(Zone::load("US/Eastern", &[]), Ok(Zone::Tz(_))));
        assert_eq!(
            Zone::load("america/new_york", &[]).err().as_deref(),
            Some("unknown time zone america/new_york")
        );
        assert_eq!(Zone::load("../x", &[]).err().as_deref(), Some("time: invalid location name"));
        assert_eq!(Zone::load("X", b"garbage").err().as_deref(), Some("malformed time zone information"));
    }

    #[test]
    fn resolves_gaps_and_repeats_like_go() {
        let ny = Zone::load("America/New_York", &[]).unwrap();
        // 02:30 does not exist on 2024-03-10: Go gives 01:30 EST (06:30Z).
        assert_eq!(ny.resolve(2024, 3, 10, 2, 30, 0), 1_710_052_200);
        // 01:30 happens twice on 2024-11-03: Go gives the first, EDT (05:30Z).
        assert_eq!(ny.resolve(2024, 11, 3, 1, 30, 0), 1_730_611_800);
        let london = Zone::load("Europe/London", &[]).unwrap();
        // 01:30 does not exist on 2024-03-31: Go gives 02:30 BST (01:30Z).
        assert_eq!(london.resolve(2024, 3, 31, 1, 30, 0), 1_711_848_600);
        // 01:30 happens twice on 2024-10-27: Go gives the second, GMT (01:30Z).
        assert_eq!(london.resolve(2024, 10, 27, 1, 30, 0), 1_729_992_600);
    }
}
