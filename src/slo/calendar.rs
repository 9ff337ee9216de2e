//! Calendar compliance periods: the month or week an instant lies in, in an SLO's time zone.
//!
//! A [`CalendarWindow`] is a unit ([`CalendarUnit::Month`] starting on a day of the month,
//! [`CalendarUnit::Week`] starting on a weekday) and an IANA time zone ([`Zone`]). Periods
//! start at local midnight of their first day and end at local midnight of the next period's
//! first day, so a month or week holding a daylight-saving change is an hour shorter or longer
//! than its nominal length: [`CalendarWindow::period_at`] answers in absolute seconds.
//!
//! Zones come from `jiff`, redline's one time library: the system tz database when the host
//! has one (`/usr/share/zoneinfo`), else the copy bundled into the binary (containers built
//! from `scratch` or distroless images have none); see docs/ARCHITECTURE.md.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// A named IANA time zone, compared by name.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, o: &Zone) -> bool {
        self.name == o.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone of an IANA name (`Europe/Berlin`, `UTC`); the error says why it is unknown.
    pub fn named(name: &str) -> Result<Zone, String> {
        if name == "UTC" {
            return Ok(Zone::utc());
        }
        TimeZone::get(name)
            .map(|tz| Zone {
                name: name.to_string(),
                tz,
            })
            .map_err(|e| format!("{name:?} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC): {e}"))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local calendar date of the instant `t` (seconds since the epoch); `None` only
    /// outside the years −9999…9999.
    pub fn date_of(&self, t: i64) -> Option<Date> {
        Some(
            Timestamp::from_second(t)
                .ok()?
                .to_zoned(self.tz.clone())
                .date(),
        )
    }
}

/// How long a calendar period is and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarUnit {
    /// From `start_day` (1–28) of one month to the same day of the next.
    Month { start_day: u8 },
    /// Seven days from `start_day`.
    Week { start_day: Weekday },
}

/// A calendar compliance period: the budget is full again at every period start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarWindow {
    pub unit: CalendarUnit,
    pub zone: Zone,
}

impl CalendarWindow {
    /// The calendar month from the 1st, in UTC.
    pub fn month_utc() -> CalendarWindow {
        CalendarWindow {
            unit: CalendarUnit::Month { start_day: 1 },
            zone: Zone::utc(),
        }
    }

    /// `month` or `week`, as the API and the `slo:` series' `window` label say.
    pub fn unit_name(&self) -> &'static str {
        match self.unit {
            CalendarUnit::Month { .. } => "month",
            CalendarUnit::Week { .. } => "week",
        }
    }

    /// The nominal length: 30 days for a month, 7 for a week (burn-rate factors and the
    /// budget's time use the period itself; see [`CalendarWindow::period_at`]).
    pub fn nominal_seconds(&self) -> u64 {
        match self.unit {
            CalendarUnit::Month { .. } => 30 * 86_400,
            CalendarUnit::Week { .. } => 7 * 86_400,
        }
    }

    /// The period `[start, end)` (seconds since the epoch) that the instant `t` (seconds since
    /// the epoch) lies in; `None` only for instants outside the years −9999…9999.
    pub fn period_at(&self, t: i64) -> Option<(i64, i64)> {
        let tz = &self.zone.tz;
        let date = self.zone.date_of(t)?;
        let (first, next) = match self.unit {
            CalendarUnit::Month { start_day } => {
                let day = i8::try_from(start_day).ok()?;
                let this = Date::new(date.year(), date.month(), day).ok()?;
                let first = if date >= this {
                    this
                } else {
                    this.checked_sub(Span::new().months(1)).ok()?
                };
                (first, first.checked_add(Span::new().months(1)).ok()?)
            }
            CalendarUnit::Week { start_day } => {
                let back = (date.weekday().to_monday_zero_offset()
                    - start_day.to_monday_zero_offset())
                .rem_euclid(7);
                let first = date.checked_sub(Span::new().days(back)).ok()?;
                (first, first.checked_add(Span::new().days(7)).ok()?)
            }
        };
        Some((midnight(tz, first)?, midnight(tz, next)?))
    }

    /// The ID of the period starting at `start` (seconds since the epoch, a period start):
    /// its local first day and ISO 8601 length, `2025-03-15/P1M` or `2025-03-30/P1W`, with
    /// the zone in brackets after it when it is not UTC (`2025-03-15/P1M[Europe/Berlin]`, as
    /// RFC 9557 suffixes a time). A month from the 1st is `2025-03` (in UTC, the ID every
    /// rolling-window SLO's reports have always had). Unique per window: two windows share
    /// an ID only for the same instants.
    pub fn period_id(&self, start: i64) -> Option<String> {
        let date = self.zone.date_of(start)?;
        let base = match self.unit {
            CalendarUnit::Month { start_day: 1 } => {
                format!("{:04}-{:02}", date.year(), date.month())
            }
            CalendarUnit::Month { .. } => format!("{date}/P1M"),
            CalendarUnit::Week { .. } => format!("{date}/P1W"),
        };
        Some(if self.zone.name == "UTC" {
            base
        } else {
            format!("{base}[{}]", self.zone.name)
        })
    }
}

/// The instant local midnight begins on `date`; where a daylight-saving change skips
/// midnight, the first instant of the day after the gap.
fn midnight(tz: &TimeZone, date: Date) -> Option<i64> {
    let ts = tz
        .to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .ok()?;
    Some(ts.as_second())
}

/// A weekday name as written in specs (`monday` … `sunday`, any case).
pub fn weekday_named(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// Windows for the tests of the calendar and of what runs on it (reports).
#[cfg(test)]
pub(crate) mod test_windows {
    use super::*;

    /// Months from `day` in `zone`.
    pub fn month(day: u8, zone: &str) -> CalendarWindow {
        CalendarWindow {
            unit: CalendarUnit::Month { start_day: day },
            zone: Zone::named(zone).expect("zone"),
        }
    }

    /// Weeks from `day` in `zone`.
    pub fn week(day: Weekday, zone: &str) -> CalendarWindow {
        CalendarWindow {
            unit: CalendarUnit::Week { start_day: day },
            zone: Zone::named(zone).expect("zone"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::days_from_civil;

    const H: i64 = 3600;
    const D: i64 = 86_400;

    /// Seconds since the epoch of a UTC date and hour (independent of jiff).
    fn utc(y: i64, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * D + h * H
    }

    use super::test_windows::{month, week};

    #[test]
    fn utc_month_boundaries() {
        let m = CalendarWindow::month_utc();
        // The last second of January and the first of February.
        let jan = (utc(2025, 1, 1, 0), utc(2025, 2, 1, 0));
        assert_eq!(m.period_at(utc(2025, 2, 1, 0) - 1), Some(jan));
        assert_eq!(
            m.period_at(utc(2025, 2, 1, 0)),
            Some((utc(2025, 2, 1, 0), utc(2025, 3, 1, 0)))
        );
        // December runs into the next year: 31 days.
        let dec = m.period_at(utc(2025, 12, 31, 23)).unwrap();
        assert_eq!(dec, (utc(2025, 12, 1, 0), utc(2026, 1, 1, 0)));
        assert_eq!(dec.1 - dec.0, 31 * D);
    }

    #[test]
    fn leap_february_has_29_days() {
        let m = CalendarWindow::month_utc();
        // 2024 is a leap year: Feb 29 lies in February, which lasts 29 × 24 h.
        let feb = m.period_at(utc(2024, 2, 29, 12)).unwrap();
        assert_eq!(feb, (utc(2024, 2, 1, 0), utc(2024, 3, 1, 0)));
        assert_eq!(feb.1 - feb.0, 29 * D);
        // 2025 is not: 28 days.
        let feb = m.period_at(utc(2025, 2, 28, 12)).unwrap();
        assert_eq!(feb.1 - feb.0, 28 * D);
    }

    #[test]
    fn month_from_a_start_day_in_berlin() {
        // Periods from the 15th, Berlin (UTC+1 in winter). On 10 March the period began on
        // 15 February 00:00 CET = 14 February 23:00 UTC and ends on 15 March 00:00 CET
        // = 14 March 23:00 UTC (DST starts only on 30 March 2025).
        let m = month(15, "Europe/Berlin");
        let p = m.period_at(utc(2025, 3, 10, 12)).unwrap();
        assert_eq!(p, (utc(2025, 2, 14, 23), utc(2025, 3, 14, 23)));
        // 28 days of February from the 15th.
        assert_eq!(p.1 - p.0, 28 * D);
        // 14 March 23:30 UTC is 15 March 00:30 CET: the next period.
        let q = m.period_at(utc(2025, 3, 14, 23) + 1800).unwrap();
        assert_eq!(q.0, utc(2025, 3, 14, 23));
        // 15 March CET to 15 April CEST: 31 days less the hour DST skips on 30 March;
        // it ends at 15 April 00:00 CEST = 14 April 22:00 UTC.
        assert_eq!(q.1, utc(2025, 4, 14, 22));
        assert_eq!(q.1 - q.0, 31 * D - H);
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        // A month holding the spring change in Berlin (30 March 2025, 02:00 → 03:00): March
        // is 31 × 24 − 1 hours; it starts at 1 March 00:00 CET = 28 Feb 23:00 UTC.
        let m = month(1, "Europe/Berlin");
        let march = m.period_at(utc(2025, 3, 30, 12)).unwrap();
        assert_eq!(march, (utc(2025, 2, 28, 23), utc(2025, 3, 31, 22)));
        assert_eq!(march.1 - march.0, 31 * D - H);
        // October holds the autumn change (26 October 2025, 03:00 → 02:00): 31 × 24 + 1 h.
        let oct = m.period_at(utc(2025, 10, 26, 12)).unwrap();
        assert_eq!(oct, (utc(2025, 9, 30, 22), utc(2025, 10, 31, 23)));
        assert_eq!(oct.1 - oct.0, 31 * D + H);
        // Weeks from Sunday: the week of 30 March 2025 (a Sunday) starts that day at 00:00
        // CET = 29 March 23:00 UTC; its first day has 23 hours, the week 7 × 24 − 1.
        let w = week(Weekday::Sunday, "Europe/Berlin");
        let spring = w.period_at(utc(2025, 3, 30, 5)).unwrap();
        assert_eq!(spring, (utc(2025, 3, 29, 23), utc(2025, 4, 5, 22)));
        assert_eq!(spring.1 - spring.0, 7 * D - H);
        // The week of 26 October 2025 (a Sunday): its first day has 25 hours.
        let autumn = w.period_at(utc(2025, 10, 26, 5)).unwrap();
        assert_eq!(autumn, (utc(2025, 10, 25, 22), utc(2025, 11, 1, 23)));
        assert_eq!(autumn.1 - autumn.0, 7 * D + H);
    }

    #[test]
    fn weeks_start_on_their_start_day() {
        // 1 January 2025 is a Wednesday. Weeks from Monday (UTC): 30 Dec 2024 – 6 Jan 2025.
        let w = week(Weekday::Monday, "UTC");
        assert_eq!(
            w.period_at(utc(2025, 1, 1, 10)),
            Some((utc(2024, 12, 30, 0), utc(2025, 1, 6, 0)))
        );
        // Weeks from Wednesday: 1 January 00:00 starts one.
        let w = week(Weekday::Wednesday, "UTC");
        assert_eq!(
            w.period_at(utc(2025, 1, 1, 0)),
            Some((utc(2025, 1, 1, 0), utc(2025, 1, 8, 0)))
        );
        // One second earlier is the last second of the week before.
        assert_eq!(
            w.period_at(utc(2025, 1, 1, 0) - 1),
            Some((utc(2024, 12, 25, 0), utc(2025, 1, 1, 0)))
        );
        // New York (UTC−5 in January): Monday 6 January 00:00 EST = 05:00 UTC. At 02:00 UTC
        // on the 6th it is still Sunday evening there.
        let ny = week(Weekday::Monday, "America/New_York");
        assert_eq!(
            ny.period_at(utc(2025, 1, 6, 2)),
            Some((utc(2024, 12, 30, 5), utc(2025, 1, 6, 5)))
        );
    }

    #[test]
    fn unknown_zone_says_so() {
        let e = Zone::named("Mars/Olympus").unwrap_err();
        assert!(e.contains("not an IANA time zone"), "{e}");
        assert_eq!(weekday_named("Sunday"), Some(Weekday::Sunday));
        assert_eq!(weekday_named("sun"), None);
    }
}
