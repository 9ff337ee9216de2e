//! Time intervals (`time_intervals:` and the legacy top-level `mute_time_intervals:`), as
//! Alertmanager's `timeinterval` package defines them.
//!
//! A [`NamedTimeInterval`] is a name and a list of [`TimeInterval`]s; it contains an instant
//! when any of its intervals does. A [`TimeInterval`] contains an instant when every field it
//! sets matches (an unset field matches everything): `times` (`HH:MM` ranges, end exclusive,
//! `24:00` allowed), `weekdays` (`monday:friday`), `days_of_month` (`1:5`, `-3:-1` counting
//! from the end of the month, clamped to the month), `months` (`1:3`, `may`), `years`
//! (`2024:2026`). Fields are evaluated in `location` (an IANA name, `UTC` or `Local`); without
//! one, in UTC — the documented default, which is what Alertmanager does when its process
//! runs in UTC, as containers normally do.
//!
//! IANA zones come from the system tz database (`/usr/share/zoneinfo`) through the `jiff`
//! crate, a small, dependency-free and well-maintained date-time library (chrono alone
//! cannot resolve IANA names), with jiff's bundled copy as the fallback on hosts without one
//! (see docs/ARCHITECTURE.md).

use std::time::SystemTime;

use jiff::tz::TimeZone;

/// Why a `time_intervals` field does not parse; the texts are Alertmanager's
/// (`timeinterval` package), which amtool prints too.
#[derive(Debug, thiserror::Error)]
pub enum TimeIntervalError {
    #[error("couldn't parse range {0:?}, invalid format")]
    Range(String),
    #[error("couldn't parse timestamp {0}, invalid format")]
    Clock(String),
    #[error("start time cannot be equal or greater than end time")]
    TimesOrder,
    #[error("{0} is not a valid weekday")]
    Weekday(String),
    #[error("start day cannot be before end day")]
    WeekdaysOrder,
    #[error("{0} is not a valid number")]
    Number(String),
    #[error("{0} is not a valid day of the month: out of range")]
    DayOfMonth(i32),
    #[error("end day must be negative if start day is negative")]
    DaysOfMonthSigns,
    #[error("end day {end} is always before start day {begin}")]
    DaysOfMonthOrder { begin: i32, end: i32 },
    #[error("{0} is not a valid month")]
    Month(String),
    #[error("end month {end} is before start month {begin}")]
    MonthsOrder { begin: String, end: String },
    #[error("end year {end} is before start year {begin}")]
    YearsOrder { begin: i32, end: i32 },
    /// Not `UTC`, `Local` nor a zone of the system tz database.
    #[error("unknown time zone {name}")]
    Location {
        name: String,
        #[source]
        source: jiff::Error,
    },
}

/// A validated named interval set.
#[derive(Clone, Debug)]
pub struct NamedTimeInterval {
    pub name: String,
    pub intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    /// Whether any interval contains `t`.
    pub fn contains(&self, t: SystemTime) -> bool {
        self.intervals.iter().any(|i| i.contains(t))
    }
}

/// An inclusive range of integers (`begin..=end`); minutes ranges are end-exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub begin: i32,
    pub end: i32,
}

/// Where an interval's fields are evaluated.
#[derive(Clone, Debug)]
pub struct Location {
    /// The name as written (`Europe/Berlin`, `UTC`, `Local`).
    pub name: String,
    pub tz: TimeZone,
}

/// One entry of a named interval's `time_intervals` list.
#[derive(Clone, Debug, Default)]
pub struct TimeInterval {
    /// Minute-of-day ranges, `[begin, end)`.
    pub times: Option<Vec<Range>>,
    /// 0 = Sunday … 6 = Saturday.
    pub weekdays: Option<Vec<Range>>,
    /// 1..=31 or -31..=-1.
    pub days_of_month: Option<Vec<Range>>,
    /// 1 = January.
    pub months: Option<Vec<Range>>,
    pub years: Option<Vec<Range>>,
    /// `None` means UTC.
    pub location: Option<Location>,
}

impl TimeInterval {
    /// Whether `t` falls inside this interval (Alertmanager's `ContainsTime`).
    pub fn contains(&self, t: SystemTime) -> bool {
        let Ok(ts) = jiff::Timestamp::try_from(t) else {
            return false;
        };
        let tz = match &self.location {
            Some(l) => l.tz.clone(),
            None => TimeZone::UTC,
        };
        let z = ts.to_zoned(tz);
        if let Some(times) = &self.times {
            let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
            if !times.iter().any(|r| minute >= r.begin && minute < r.end) {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let in_month = i32::from(z.days_in_month());
            let day = i32::from(z.day());
            let hit = days.iter().any(|r| {
                let begin = if r.begin < 0 {
                    in_month + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 {
                    in_month + r.end + 1
                } else {
                    r.end
                };
                if begin > in_month {
                    return false;
                }
                let begin = begin.clamp(-in_month, in_month);
                let end = end.clamp(-in_month, in_month);
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        let within = |ranges: &Option<Vec<Range>>, v: i32| {
            ranges
                .as_ref()
                .is_none_or(|rs| rs.iter().any(|r| v >= r.begin && v <= r.end))
        };
        within(&self.months, i32::from(z.month()))
            && within(
                &self.weekdays,
                i32::from(z.weekday().to_sunday_zero_offset()),
            )
            && within(&self.years, i32::from(z.year()))
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

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

/// Splits `a:b` (or `a`) into its two ends, lower-cased.
fn ends(s: &str) -> Result<(String, String), TimeIntervalError> {
    let s = s.to_lowercase();
    match s.split(':').collect::<Vec<_>>()[..] {
        [one] => Ok((one.to_string(), one.to_string())),
        [a, b] => Ok((a.to_string(), b.to_string())),
        _ => Err(TimeIntervalError::Range(s)),
    }
}

/// `HH:MM`, `00:00`..=`24:00`, as a minute of the day.
pub fn parse_clock(s: &str) -> Result<i32, TimeIntervalError> {
    let bad = || TimeIntervalError::Clock(s.to_string());
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let h = i32::from(b[0] - b'0') * 10 + i32::from(b[1] - b'0');
    let m = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// One `times` entry.
pub fn parse_times(start: &str, end: &str) -> Result<Range, TimeIntervalError> {
    let (b, e) = (parse_clock(start)?, parse_clock(end)?);
    if b >= e {
        return Err(TimeIntervalError::TimesOrder);
    }
    Ok(Range { begin: b, end: e })
}

/// One `weekdays` entry (`monday`, `monday:friday`), names only.
pub fn parse_weekdays(s: &str) -> Result<Range, TimeIntervalError> {
    let (a, b) = ends(s)?;
    let day = |d: &str| {
        WEEKDAYS
            .iter()
            .position(|w| *w == d)
            .map(|i| i as i32)
            .ok_or_else(|| TimeIntervalError::Weekday(d.to_string()))
    };
    let (begin, end) = (day(&a)?, day(&b)?);
    if begin > end {
        return Err(TimeIntervalError::WeekdaysOrder);
    }
    Ok(Range { begin, end })
}

fn int(s: &str) -> Result<i32, TimeIntervalError> {
    s.parse::<i32>()
        .map_err(|_| TimeIntervalError::Number(s.to_string()))
}

/// One `days_of_month` entry (`1:5`, `-3:-1`, `15`).
pub fn parse_days_of_month(s: &str) -> Result<Range, TimeIntervalError> {
    let (a, b) = ends(s)?;
    let (begin, end) = (int(&a)?, int(&b)?);
    for d in [begin, end] {
        if d == 0 || !(-31..=31).contains(&d) {
            return Err(TimeIntervalError::DayOfMonth(d));
        }
    }
    if begin < 0 && end > 0 {
        return Err(TimeIntervalError::DaysOfMonthSigns);
    }
    let check = |d: i32| if d < 0 { 28 + d } else { d };
    if check(begin) > check(end) {
        return Err(TimeIntervalError::DaysOfMonthOrder { begin, end });
    }
    Ok(Range { begin, end })
}

/// One `months` entry (`1:3`, `may`, `january:march`).
pub fn parse_months(s: &str) -> Result<Range, TimeIntervalError> {
    let (a, b) = ends(s)?;
    let month = |m: &str| match MONTHS.iter().position(|n| *n == m) {
        Some(i) => Ok(i as i32 + 1),
        None => match m.parse::<i32>() {
            Ok(n) if (1..=12).contains(&n) => Ok(n),
            _ => Err(TimeIntervalError::Month(m.to_string())),
        },
    };
    let (begin, end) = (month(&a)?, month(&b)?);
    if begin > end {
        return Err(TimeIntervalError::MonthsOrder { begin: a, end: b });
    }
    Ok(Range { begin, end })
}

/// One `years` entry (`2024`, `2024:2026`).
pub fn parse_years(s: &str) -> Result<Range, TimeIntervalError> {
    let (a, b) = ends(s)?;
    let (begin, end) = (int(&a)?, int(&b)?);
    if begin > end {
        return Err(TimeIntervalError::YearsOrder { begin, end });
    }
    Ok(Range { begin, end })
}

/// `location`: `UTC`, `Local` or an IANA name from the system tz database.
pub fn parse_location(name: &str) -> Result<Location, TimeIntervalError> {
    let tz = match name {
        "" | "UTC" => TimeZone::UTC,
        "Local" => TimeZone::try_system().unwrap_or(TimeZone::UTC),
        _ => TimeZone::get(name).map_err(|source| TimeIntervalError::Location {
            name: name.to_string(),
            source,
        })?,
    };
    Ok(Location {
        name: name.to_string(),
        tz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Seconds since the epoch of a UTC date-time.
    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> SystemTime {
        let dt = jiff::civil::date(y, mo, d).at(h, mi, 0, 0);
        let ts = dt.to_zoned(TimeZone::UTC).unwrap_or_default().timestamp();
        UNIX_EPOCH + Duration::from_secs(ts.as_second() as u64)
    }

    #[test]
    fn business_hours_weekdays() {
        let ti = TimeInterval {
            times: Some(vec![parse_times("09:00", "17:00").unwrap()]),
            weekdays: Some(vec![parse_weekdays("Monday:FRIDAY").unwrap()]),
            ..Default::default()
        };
        // 2024-03-04 is a Monday.
        assert!(ti.contains(at(2024, 3, 4, 9, 0)));
        assert!(!ti.contains(at(2024, 3, 4, 17, 0)), "end is exclusive");
        assert!(!ti.contains(at(2024, 3, 3, 12, 0)), "Sunday");
    }

    #[test]
    fn negative_days_of_month_count_from_the_end() {
        let ti = TimeInterval {
            days_of_month: Some(vec![parse_days_of_month("-3:-1").unwrap()]),
            ..Default::default()
        };
        assert!(
            ti.contains(at(2024, 2, 27, 0, 0)),
            "leap February has 29 days"
        );
        assert!(!ti.contains(at(2024, 2, 26, 0, 0)));
        assert!(ti.contains(at(2023, 4, 30, 0, 0)));
    }

    #[test]
    fn location_shifts_the_clock() {
        let ti = TimeInterval {
            times: Some(vec![parse_times("00:00", "01:00").unwrap()]),
            location: Some(parse_location("Europe/Berlin").unwrap()),
            ..Default::default()
        };
        // 23:30 UTC in January is 00:30 in Berlin.
        assert!(ti.contains(at(2024, 1, 10, 23, 30)));
        assert!(!ti.contains(at(2024, 1, 10, 0, 30)));
    }

    #[test]
    fn parse_errors_match_alertmanager() {
        assert_eq!(
            parse_weekdays("1:5").unwrap_err().to_string(),
            "1 is not a valid weekday"
        );
        assert_eq!(
            parse_days_of_month("-3:5").unwrap_err().to_string(),
            "end day must be negative if start day is negative"
        );
        assert_eq!(
            parse_years("2020:2019").unwrap_err().to_string(),
            "end year 2019 is before start year 2020"
        );
        assert_eq!(
            parse_times("9:00", "17:00").unwrap_err().to_string(),
            "couldn't parse timestamp 9:00, invalid format"
        );
        assert!(parse_times("10:00", "10:00").is_err());
        assert_eq!(parse_times("09:00", "24:00").unwrap().end, 1440);
        assert_eq!(parse_months("1:may").unwrap(), Range { begin: 1, end: 5 });
        assert_eq!(
            parse_location("Mars/Base").unwrap_err().to_string(),
            "unknown time zone Mars/Base"
        );
    }
}
