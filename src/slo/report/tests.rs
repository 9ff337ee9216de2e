use super::*;
use crate::slo::calendar::test_windows::{month, week};

fn who() -> ReportSubject {
    ReportSubject {
        service: "shop".into(),
        name: "checkout".into(),
        owner: "team-shop".into(),
        objective: 99.0,
        calendar: CalendarWindow::month_utc(),
    }
}

fn m(minute: i64, bad: f64, total: f64) -> LedgerMinute {
    LedgerMinute { minute, bad, total }
}

#[test]
fn months_are_utc_calendar_months() {
    let nov = Period::parse("2026-11").unwrap();
    // 2026-11-01T00:00Z = 20758 days after the epoch; November has 30 days.
    assert_eq!(nov.start_ms, 20_758 * DAY_MS);
    assert_eq!(nov.end_ms, (20_758 + 30) * DAY_MS);
    assert_eq!(Period::month_of(nov.end_ms - 1), nov);
    assert_eq!(Period::month_of(nov.end_ms).name, "2026-12");
    let utc = CalendarWindow::month_utc();
    assert_eq!(nov.previous(&utc).unwrap().name, "2026-10");
    let jan = Period::parse("2026-01").unwrap();
    assert_eq!(jan.previous(&utc).unwrap().name, "2025-12");
    // The calendar's UTC month from the 1st is the same period.
    assert_eq!(
        Period::of(&utc, nov.start_ms + 5 * DAY_MS),
        Some(nov.clone())
    );
    // 2028 is a leap year: February has 29 days.
    let feb = Period::parse("2028-02").unwrap();
    assert_eq!(feb.end_ms - feb.start_ms, 29 * DAY_MS);
    for bad in ["2026-13", "2026-1", "26-11", "2026/11", ""] {
        assert_eq!(Period::parse(bad), None, "{bad}");
    }
}

#[test]
fn figures_incidents_and_downtime_by_hand() {
    let nov = Period::parse("2026-11").unwrap();
    let s0 = nov.start_ms / 60_000; // the period's first minute
                                    // Objective 99 %: error budget ratio 0.01. Ten minutes of 100 events each (1000):
                                    //   s0+0: 0 bad            ratio 0
                                    //   s0+1: 1 bad            ratio 0.01: not above 0.01, not downtime
                                    //   s0+2: 5 bad            ratio 0.05: downtime  ┐ incident 1: 2 minutes, 25 bad
                                    //   s0+3: 20 bad           ratio 0.2:  downtime  ┘
                                    //   s0+4: 0 bad
                                    //   s0+5: 2 bad            ratio 0.02: downtime  ] incident 2: 1 minute, 2 bad
                                    //   s0+6..s0+9: 0 bad
                                    // A minute of the month before (s0−1, 50 bad) lies outside the period.
                                    // Total 1000, bad 1+5+20+2 = 28; attainment 972/1000 = 0.972 < 0.99: not met.
                                    // Budget: 0.01 × 1000 = 10 events; spent 28/10 = 2.8; incident 1 25/10 = 2.5,
                                    // incident 2 2/10 = 0.2. Downtime 3 minutes. A gap [s0+10, s0+15): 5 minutes.
    let mut minutes = vec![m(s0 - 1, 50.0, 100.0)];
    for (i, bad) in [0.0, 1.0, 5.0, 20.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .enumerate()
    {
        minutes.push(m(s0 + i as i64, *bad, 100.0));
    }
    let gaps = [LedgerGap {
        start: s0 + 10,
        end: s0 + 15,
    }];
    let alert = |name: &str, start: i64, end: Option<i64>| AlertHistoryRow {
        slo_key: "shop/checkout".into(),
        alertname: name.into(),
        severity: "page".into(),
        starts_at_ms: start,
        ends_at_ms: end,
        playbook_url: format!("http://redline/playbooks/{name}"),
    };
    let t = |k: i64| (s0 + k) * 60_000;
    let alerts = [
        // Fires during incident 1 and resolves in the quiet minute after it.
        alert("SLOBurnRate", t(3) + 5_000, Some(t(4) + 30_000)),
        // Fires after both incidents: listed under neither.
        alert("SLOBudgetExhausted", t(7), None),
    ];
    let r = compute(&who(), &nov, true, 60_000, &minutes, &gaps, &alerts);
    assert_eq!(r.slo, "shop/checkout");
    assert_eq!(r.period, "2026-11");
    assert_eq!(
        (r.total_events, r.bad_events, r.good_events),
        (1000.0, 28.0, 972.0)
    );
    assert!((r.attainment - 0.972).abs() < 1e-12);
    assert!(!r.objective_met);
    assert!((r.error_budget_ratio - 0.01).abs() < 1e-12);
    assert!((r.budget_spent_ratio - 2.8).abs() < 1e-9);
    assert_eq!(r.downtime_minutes, 3);
    assert_eq!(r.measured_minutes, 10);
    assert_eq!(r.gap_minutes, 5);
    assert_eq!(r.incidents.len(), 2);
    let i1 = &r.incidents[0];
    assert_eq!((i1.start_ms, i1.end_ms, i1.minutes), (t(2), t(4), 2));
    assert_eq!(i1.bad_events, 25.0);
    assert!((i1.budget_consumed_ratio - 2.5).abs() < 1e-9);
    assert_eq!(i1.alerts.len(), 1);
    assert_eq!(i1.alerts[0].alertname, "SLOBurnRate");
    assert_eq!(
        i1.alerts[0].playbook_url,
        "http://redline/playbooks/SLOBurnRate"
    );
    let i2 = &r.incidents[1];
    assert_eq!((i2.start_ms, i2.end_ms, i2.minutes), (t(5), t(6), 1));
    assert!((i2.budget_consumed_ratio - 0.2).abs() < 1e-9);
    assert!(
        i2.alerts.is_empty(),
        "the alert ended before and the next began after"
    );
}

#[test]
fn a_period_without_events_meets_its_objective_and_spends_nothing() {
    let nov = Period::parse("2026-11").unwrap();
    let s0 = nov.start_ms / 60_000;
    let r = compute(&who(), &nov, false, 60_000, &[m(s0, 0.0, 0.0)], &[], &[]);
    assert_eq!(r.attainment, 1.0);
    assert!(r.objective_met);
    assert_eq!(r.budget_spent_ratio, 0.0);
    assert_eq!((r.downtime_minutes, r.measured_minutes), (0, 0));
    assert!(r.incidents.is_empty());
}

#[test]
fn csv_has_one_row_per_report_and_quotes_what_needs_it() {
    let nov = Period::parse("2026-11").unwrap();
    let s0 = nov.start_ms / 60_000;
    let mut w = who();
    w.owner = "team \"shop\", EU".into();
    let r = compute(&w, &nov, true, 60_000, &[m(s0, 3.0, 200.0)], &[], &[]);
    let csv = to_csv(&[r]);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], CSV_HEADER);
    // 3 of 200 bad: attainment 0.985, ratio 0.015 > 0.01 so one downtime minute and one
    // incident; budget 0.01 × 200 = 2 events, spent 3/2 = 1.5.
    let (head, spent) = lines[1].split_at(lines[1].find(",0.985,false,200,3,").unwrap());
    assert_eq!(
        head,
        "\"team \"\"shop\"\", EU\",shop,checkout,2026-11,2026-11-01T00:00:00Z,\
         2026-12-01T00:00:00Z,UTC,true,99"
    );
    let rest: Vec<&str> = spent
        .trim_start_matches(",0.985,false,200,3,")
        .split(',')
        .collect();
    assert_eq!(
        rest,
        ["1.5", "1", "1", "0"],
        "spent 1.5, one downtime minute, one incident"
    );
    assert_eq!(lines[2], "", "the last row ends with CRLF");
}

/// Milliseconds since the epoch of a UTC date and hour (independent of the time zone data).
fn utc_ms(y: i64, mo: u32, d: u32, h: i64) -> i64 {
    crate::timefmt::days_from_civil(y, mo, d) * DAY_MS + h * 3_600_000
}

#[test]
fn a_weekly_slo_reports_on_its_weeks_across_the_dst_change_in_its_zone() {
    use jiff::civil::Weekday;
    // Weeks from Sunday in Berlin. Sunday 30 March 2025 is the spring change (02:00 CET →
    // 03:00 CEST): its week starts at 00:00 CET = 29 March 23:00 UTC and ends at Sunday
    // 6 April 00:00 CEST = 5 April 22:00 UTC, 7 × 24 − 1 = 167 hours.
    let w = week(Weekday::Sunday, "Europe/Berlin");
    let p = Period::of(&w, utc_ms(2025, 4, 2, 12)).unwrap();
    assert_eq!(p.name, "2025-03-30/P1W[Europe/Berlin]");
    assert_eq!(
        (p.start_ms, p.end_ms),
        (utc_ms(2025, 3, 29, 23), utc_ms(2025, 4, 5, 22))
    );
    assert_eq!(p.time_zone, "Europe/Berlin");
    // The week before: 23 March 00:00 CET = 22 March 23:00 UTC, a full 168 hours.
    let prev = p.previous(&w).unwrap();
    assert_eq!(prev.name, "2025-03-23/P1W[Europe/Berlin]");
    assert_eq!(prev.end_ms - prev.start_ms, 7 * DAY_MS);
    // Minutes: the last of the week before (Saturday 23:59 CET), the first of the week
    // (Sunday 00:00 CET), its last (Saturday 5 April 23:59 CEST = 21:59 UTC) and the first
    // of the next week: two lie in it, 10 bad of 100 each. A gap over the whole week and
    // beyond counts the week's minutes only: 167 × 60 = 10,020.
    let s = |ms: i64| ms / 60_000;
    let (first, end) = (s(p.start_ms), s(p.end_ms));
    let minutes = [
        m(first - 1, 50.0, 100.0),
        m(first, 10.0, 100.0),
        m(end - 1, 10.0, 100.0),
        m(end, 50.0, 100.0),
    ];
    let gaps = [LedgerGap {
        start: first - 500,
        end: end + 500,
    }];
    let mut subject = who();
    subject.calendar = w.clone();
    let r = compute(&subject, &p, true, 60_000, &minutes, &gaps, &[]);
    assert_eq!((r.total_events, r.bad_events), (200.0, 20.0));
    assert_eq!(r.measured_minutes, 2);
    assert_eq!(r.gap_minutes, 10_020);
    assert_eq!(r.period, "2025-03-30/P1W[Europe/Berlin]");
    assert_eq!(r.time_zone, "Europe/Berlin");
    // Its days (30 March to 5 April in Berlin) fall in March and April: both owner reports
    // list it.
    assert_eq!(
        months_of(&r.time_zone, r.start_ms, r.end_ms),
        ["2025-03", "2025-04"]
    );
}

#[test]
fn a_month_from_the_15th_holds_the_leap_day_in_its_zone() {
    // Months from the 15th in Berlin (CET, UTC+1 all along: DST 2028 starts on 26 March).
    // 2028 is a leap year: 15 February to 15 March is 15 + 14 = 29 days, from 14 February
    // 23:00 UTC to 14 March 23:00 UTC; 29 February 23:30 CET (22:30 UTC) lies in it.
    let w = month(15, "Europe/Berlin");
    let p = Period::of(&w, utc_ms(2028, 2, 29, 22) + 30 * 60_000).unwrap();
    assert_eq!(p.name, "2028-02-15/P1M[Europe/Berlin]");
    assert_eq!(
        (p.start_ms, p.end_ms),
        (utc_ms(2028, 2, 14, 23), utc_ms(2028, 3, 14, 23))
    );
    assert_eq!(p.end_ms - p.start_ms, 29 * DAY_MS);
    assert_eq!(
        p.previous(&w).unwrap().name,
        "2028-01-15/P1M[Europe/Berlin]"
    );
    // In UTC, a month from the 1st keeps the plain `YYYY-MM`: February 2028, 29 days.
    let utc = CalendarWindow::month_utc();
    let feb = Period::of(&utc, utc_ms(2028, 2, 29, 12)).unwrap();
    assert_eq!(feb, Period::parse("2028-02").unwrap());
    // The owner's February lists the period; so does March.
    let days = |m: &str| {
        shares_a_day(
            &p.time_zone,
            p.start_ms,
            p.end_ms,
            &Period::parse(m).unwrap(),
        )
    };
    assert!(days("2028-02") && days("2028-03"));
    assert!(!days("2028-01") && !days("2028-04"));
}

#[test]
fn owner_months_count_days_in_each_slos_zone() {
    use jiff::civil::Weekday;
    // Berlin's December 2026 (from the 1st) starts at 30 November 23:00 UTC: an hour of
    // UTC November, but none of its days, so November's owner report leaves it out.
    let berlin = month(1, "Europe/Berlin");
    let dec = Period::of(&berlin, utc_ms(2026, 12, 10, 0)).unwrap();
    assert_eq!(dec.name, "2026-12[Europe/Berlin]");
    assert_eq!(dec.start_ms, utc_ms(2026, 11, 30, 23));
    let nov = Period::parse("2026-11").unwrap();
    assert!(dec.start_ms < nov.end_ms, "the instants overlap by an hour");
    assert!(!shares_a_day(
        &dec.time_zone,
        dec.start_ms,
        dec.end_ms,
        &nov
    ));
    assert_eq!(
        months_of(&dec.time_zone, dec.start_ms, dec.end_ms),
        ["2026-12"]
    );
    // A week from Monday in UTC: 30 November to 7 December 2026 shares days with both.
    let mondays = week(Weekday::Monday, "UTC");
    let w = Period::of(&mondays, utc_ms(2026, 12, 6, 12)).unwrap();
    assert_eq!(w.name, "2026-11-30/P1W");
    assert_eq!(
        (w.start_ms, w.end_ms),
        (utc_ms(2026, 11, 30, 0), utc_ms(2026, 12, 7, 0))
    );
    assert!(shares_a_day(&w.time_zone, w.start_ms, w.end_ms, &nov));
    assert_eq!(
        months_of(&w.time_zone, w.start_ms, w.end_ms),
        ["2026-11", "2026-12"]
    );
    // A UTC month is in its own month only (it ends at the next one's first midnight).
    assert_eq!(months_of("UTC", nov.start_ms, nov.end_ms), ["2026-11"]);
}
