//! The text forms of a spec: calendar fields (`CalendarSpec`), cron strings and the durations
//! of `@every`, turned into structured calendars and intervals with the real server's rules and
//! error messages (some of which are Go's own, e.g. `strconv.Atoi: parsing "x": invalid
//! syntax` or `time: invalid duration "abc"`).

use super::calendar::{MAX_CALENDAR_YEAR, MIN_CALENDAR_YEAR};
use crate::api::schedule::v1::{CalendarSpec, IntervalSpec, Range, StructuredCalendarSpec};
use crate::time::Nanos;

/// How the values of a field may be written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Decimal integers.
    Int,
    /// Decimal integers; `*` is an empty range list (every year).
    Year,
    /// Also month names, by a prefix of at least three letters.
    Month,
    /// Also day-of-week names, by a prefix of at least two letters; 7 is Sunday.
    DayOfWeek,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const DAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

/// Go's `strconv.Quote` for the strings that reach an error message.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits fitting in 64 bits.
fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s)));
    }
    s.strip_prefix('+')
        .unwrap_or(s)
        .parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// One value of a field: an integer, or a month or day name where the mode allows, within
/// `min ..= max`.
fn parse_value(s: &str, min: i64, max: i64, mode: Mode) -> Option<i64> {
    let names: &[&str] = match mode {
        Mode::Month if s.len() >= 3 => &MONTHS,
        Mode::DayOfWeek if s.len() >= 2 => &DAYS,
        _ => &[],
    };
    let lower = s.to_lowercase();
    let base = if mode == Mode::Month { 1 } else { 0 };
    if let Some(i) = names.iter().position(|name| name.starts_with(&lower)) {
        let v = i as i64 + base;
        return (min..=max).contains(&v).then_some(v);
    }
    go_atoi(s).ok().filter(|v| (min..=max).contains(v))
}

/// Parses one field of a `CalendarSpec` (`*`, `x`, `x-z`, `x-z/y`, `x/y`, comma-separated)
/// into ranges as the server stores them: an end equal to the start and a step of 1 are left
/// out (0), day of week 7 becomes 0, year `*` is no range at all.
fn make_range(
    text: &str,
    field: &str,
    default: &str,
    min: i64,
    max: i64,
    mode: Mode,
) -> Result<Vec<Range>, String> {
    let mut text = text.trim();
    if text.is_empty() {
        text = default;
    }
    if text == "*" && mode == Mode::Year {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let mut part = part;
        let mut step: i64 = 1;
        let mut has_step = false;
        if part.contains('/') {
            let pieces: Vec<&str> = part.split('/').collect();
            let [value, skip] = pieces[..] else {
                return Err(format!("{field} has too many slashes"));
            };
            part = value;
            step = go_atoi(skip)?;
            if step < 1 {
                return Err(format!("{field} has invalid Step"));
            }
            has_step = true;
        }
        let (mut start, mut end) = (min, max);
        if part != "*" {
            if part.contains('-') {
                let pieces: Vec<&str> = part.split('-').collect();
                let [from, to] = pieces[..] else {
                    return Err(format!("{field} has too many dashes"));
                };
                start = parse_value(from, min, max, mode)
                    .ok_or_else(|| format!("{field} Start is not in range [{min}-{max}]"))?;
                end = parse_value(to, start, max, mode)
                    .ok_or_else(|| format!("{field} End is before Start or not in range [{min}-{max}]"))?;
            } else {
                start = parse_value(part, min, max, mode)
                    .ok_or_else(|| format!("{field} is not in range [{min}-{max}]"))?;
                // With a step a single value runs to the maximum; without, it is itself.
                if !has_step {
                    end = start;
                }
            }
        }
        // Sunday is 0; a range reaching 7 is cut at 6, with a separate 0 when 7 was one of its
        // values and 0 was not already. (The server's rule, which leaves Sunday out of "1-7".)
        if mode == Mode::DayOfWeek && end == 7 {
            if (7 - start) % step == 0 && (step > 1 || (step == 1 && start > 1)) {
                ranges.push(Range { start: 0, end: 0, step: 0 });
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        if start == end {
            end = 0;
        }
        if step == 1 {
            step = 0;
        }
        // Go converts with int32(): a step beyond 32 bits wraps the same way.
        ranges.push(Range { start: start as i32, end: end as i32, step: step as i32 });
    }
    Ok(ranges)
}

/// A `CalendarSpec` as a structured calendar; every field's error, joined with ", ".
pub(crate) fn parse_calendar(cal: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let mut errors = Vec::new();
    let mut field = |text: &str, name: &str, default: &str, min: i64, max: i64, mode: Mode| {
        make_range(text, name, default, min, max, mode).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        })
    };
    let second = field(&cal.second, "Second", "0", 0, 59, Mode::Int);
    let minute = field(&cal.minute, "Minute", "0", 0, 59, Mode::Int);
    let hour = field(&cal.hour, "Hour", "0", 0, 23, Mode::Int);
    let day_of_week = field(&cal.day_of_week, "DayOfWeek", "*", 0, 7, Mode::DayOfWeek);
    let day_of_month = field(&cal.day_of_month, "DayOfMonth", "*", 1, 31, Mode::Int);
    let month = field(&cal.month, "Month", "*", 1, 12, Mode::Month);
    let year = field(&cal.year, "Year", "*", MIN_CALENDAR_YEAR, MAX_CALENDAR_YEAR, Mode::Year);
    if !errors.is_empty() {
        return Err(errors.join(", "));
    }
    Ok(StructuredCalendarSpec {
        second,
        minute,
        hour,
        day_of_month,
        month,
        year,
        day_of_week,
        comment: cal.comment.clone(),
    })
}

/// What one cron string stands for.
pub(crate) enum Cron {
    Calendar(StructuredCalendarSpec),
    Interval(IntervalSpec),
}

/// Parses a cron string: an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix, an optional
/// `# comment` suffix, then `@every <duration>[/<phase>]`, a descriptor (`@yearly`,
/// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`), or 5 fields (minute
/// hour day-of-month month day-of-week), 6 (… year) or 7 (second … year) in the calendar
/// syntax. Returns the zone name given (empty if none; always empty for `@every`, as on the
/// server).
pub(crate) fn parse_cron(text: &str) -> Result<(Cron, String), String> {
    let mut c = text.trim();
    let mut zone = "";
    if c.starts_with("TZ=") || c.starts_with("CRON_TZ=") {
        let Some((tz, rest)) = c.split_once(' ') else {
            return Err("CronString has time zone but missing fields".to_string());
        };
        c = rest;
        zone = tz.split_once('=').map_or("", |(_, name)| name);
    }
    let (body, comment) = c.split_once('#').unwrap_or((c, ""));
    let c = body.trim();
    let comment = comment.trim();
    if c.starts_with("@every") {
        return Ok((Cron::Interval(parse_every(c)?), String::new()));
    }
    let c = match c {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = c.split_whitespace().collect();
    let mut cal = CalendarSpec { comment: comment.to_string(), ..Default::default() };
    match fields[..] {
        [minute, hour, dom, month, dow] => {
            (cal.minute, cal.hour, cal.day_of_month, cal.month, cal.day_of_week) =
                (minute.into(), hour.into(), dom.into(), month.into(), dow.into());
        }
        [minute, hour, dom, month, dow, year] => {
            (cal.minute, cal.hour, cal.day_of_month, cal.month, cal.day_of_week, cal.year) =
                (minute.into(), hour.into(), dom.into(), month.into(), dow.into(), year.into());
        }
        [second, minute, hour, dom, month, dow, year] => {
            (cal.second, cal.minute, cal.hour, cal.day_of_month, cal.month) =
                (second.into(), minute.into(), hour.into(), dom.into(), month.into());
            (cal.day_of_week, cal.year) = (dow.into(), year.into());
        }
        _ => return Err("CronString does not have 5-7 fields".to_string()),
    }
    Ok((Cron::Calendar(parse_calendar(&cal)?), zone.to_string()))
}

/// `@every <interval>[/<phase>]`.
fn parse_every(c: &str) -> Result<IntervalSpec, String> {
    let Some((_, rest)) = c.split_once(' ') else {
        return Err("CronString does not have interval after @every".to_string());
    };
    let (interval, phase) = rest.split_once('/').unwrap_or((rest, ""));
    let interval = Some(go_duration_proto(parse_duration(interval)?));
    let phase = if phase.is_empty() { None } else { Some(go_duration_proto(parse_duration(phase)?)) };
    Ok(IntervalSpec { interval, phase })
}

/// A Go duration as a protobuf duration (`durationpb.New`: both parts truncated toward zero).
pub(crate) fn go_duration_proto(n: Nanos) -> prost_wkt_types::Duration {
    prost_wkt_types::Duration { seconds: n / 1_000_000_000, nanos: (n % 1_000_000_000) as i32 }
}

/// Temporal's duration syntax: Go's `time.ParseDuration` after each `<number>d` is rewritten as
/// `<24 × number, six decimals>h`, with Go's error messages (which quote the rewritten text).
pub(crate) fn parse_duration(text: &str) -> Result<Nanos, String> {
    go_parse_duration(&expand_days(text))
}

/// Rewrites every `<digits>[.<digits>]d` or `.<digits>d` as hours.
fn expand_days(s: &str) -> String {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let end = if b[i].is_ascii_digit() {
            let int_end = digits_from(i);
            let frac_end = if b.get(int_end) == Some(&b'.') { digits_from(int_end + 1) } else { int_end };
            if b.get(frac_end) == Some(&b'd') {
                Some(frac_end)
            } else if b.get(int_end) == Some(&b'd') {
                Some(int_end)
            } else {
                None
            }
        } else if b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let frac_end = digits_from(i + 1);
            (b.get(frac_end) == Some(&b'd')).then_some(frac_end)
        } else {
            None
        };
        match end {
            Some(end) => match s[i..end].parse::<f64>() {
                Ok(days) => {
                    out.push_str(&s[copied..i]);
                    out.push_str(&format!("{:.6}h", 24.0 * days));
                    i = end + 1;
                    copied = i;
                }
                Err(_) => i = end + 1,
            },
            None => i += s[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Go's `time.ParseDuration`, with its error messages.
fn go_parse_duration(orig: &str) -> Result<Nanos, String> {
    const UNITS: &[(&str, u64)] = &[
        ("ns", 1),
        ("us", 1_000),
        ("\u{b5}s", 1_000),
        ("\u{3bc}s", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s.starts_with('.') || s.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: u64 = 0;
        for d in s[..int_len].bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|v| *v <= LIMIT)
                .ok_or_else(invalid)?;
        }
        s = &s[int_len..];
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            frac_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in s[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                match fraction.checked_mul(10).and_then(|f| f.checked_add(u64::from(d - b'0'))) {
                    Some(f) if f <= LIMIT => {
                        fraction = f;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let Some(&(_, scale_ns)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("time: unknown unit {} in duration {}", go_quote(unit), go_quote(orig)));
        };
        if value > LIMIT / scale_ns {
            return Err(invalid());
        }
        value *= scale_ns;
        if fraction > 0 {
            value += (fraction as f64 * (scale_ns as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    #[test]
    fn fields_become_ranges() {
        let dow = |s| make_range(s, "DayOfWeek", "*", 0, 7, Mode::DayOfWeek);
        assert_eq!(dow("*"), Ok(vec![r(0, 6, 0)]));
        assert_eq!(dow("7"), Ok(vec![r(0, 0, 0)]));
        assert_eq!(dow("3-7"), Ok(vec![r(0, 0, 0), r(3, 6, 0)]));
        assert_eq!(dow("1-7/2"), Ok(vec![r(0, 0, 0), r(1, 6, 2)]));
        assert_eq!(dow("3-7/3"), Ok(vec![r(3, 6, 3)]));
        assert_eq!(dow("1-7"), Ok(vec![r(1, 6, 0)]), "the server drops Sunday here");
        assert_eq!(dow("MON-fri"), Ok(vec![r(1, 5, 0)]));
        assert_eq!(dow("x").unwrap_err(), "DayOfWeek is not in range [0-7]");
        let month = |s| make_range(s, "Month", "*", 1, 12, Mode::Month);
        assert_eq!(month("jan-MAR,septem"), Ok(vec![r(1, 3, 0), r(9, 0, 0)]));
        assert_eq!(month("ja").unwrap_err(), "Month is not in range [1-12]");
        assert_eq!(month("mar-jan").unwrap_err(), "Month End is before Start or not in range [1-12]");
        let minute = |s| make_range(s, "Minute", "0", 0, 59, Mode::Int);
        assert_eq!(minute(""), Ok(vec![r(0, 0, 0)]));
        assert_eq!(minute("5/20"), Ok(vec![r(5, 59, 20)]));
        assert_eq!(minute("*/x").unwrap_err(), "strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(minute("*/0").unwrap_err(), "Minute has invalid Step");
        assert_eq!(minute("1/2/3").unwrap_err(), "Minute has too many slashes");
        assert_eq!(minute("1-2-3").unwrap_err(), "Minute has too many dashes");
        assert_eq!(minute("-5").unwrap_err(), "Minute Start is not in range [0-59]");
        let year = |s| make_range(s, "Year", "*", 2000, 2100, Mode::Year);
        assert_eq!(year(" * "), Ok(vec![]));
        assert_eq!(year("2024-2030/3,2031"), Ok(vec![r(2024, 2030, 3), r(2031, 0, 0)]));
    }

    #[test]
    fn durations_as_temporal_parses_them() {
        assert_eq!(parse_duration("90m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1.5d"), Ok(129_600_000_000_000));
        assert_eq!(parse_duration("1d12h"), Ok(129_600_000_000_000));
        assert_eq!(parse_duration(".5d"), Ok(43_200_000_000_000));
        assert_eq!(parse_duration("-1h"), Ok(-3_600_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(parse_duration("10").unwrap_err(), "time: missing unit in duration \"10\"");
        assert_eq!(parse_duration("1x").unwrap_err(), "time: unknown unit \"x\" in duration \"1x\"");
        assert_eq!(
            parse_duration("2dx").unwrap_err(),
            "time: unknown unit \"hx\" in duration \"48.000000hx\""
        );
        assert_eq!(parse_duration("").unwrap_err(), "time: invalid duration \"\"");
    }
}
