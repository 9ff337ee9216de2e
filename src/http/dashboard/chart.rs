//! SVG charts rendered on the server: the dashboard needs no JavaScript to draw.
//!
//! A [`Chart`] holds series of `(time ms, value)` points, a [`Unit`] and optional threshold
//! lines; [`Chart::render`] writes a self-contained `<svg>` with a y axis of "nice" ticks
//! ([`nice_ticks`]) labelled in the unit ([`Unit::format`]), a time axis whose labels are in
//! the viewer's time zone ([`time_ticks`]), the lines (or a filled area) and a legend. The
//! SVG scales to its container's width (`viewBox`) and uses plain colours, so it reads on a
//! laptop screen and prints.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::fmt::Write as _;

/// What a value measures; decides how ticks and values are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A ratio 0..1, shown as a percentage.
    Percent,
    Seconds,
    /// Requests per second.
    Reqps,
    Bytes,
    /// Plain numbers with k/M/G suffixes.
    #[default]
    Short,
}

impl Unit {
    /// `v` written for a reader: `12.5%`, `230ms`, `4.2 req/s`, `1.5 GiB`, `3.2k`.
    pub fn format(self, v: f64) -> String {
        self.format_digits(v, 3)
    }

    /// `v` written for a reader with at most `sig` significant digits.
    pub fn format_digits(self, v: f64, sig: i32) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
        }
        match self {
            Unit::Percent => format!("{}%", trim(v * 100.0, sig)),
            Unit::Seconds => {
                let a = v.abs();
                if a == 0.0 {
                    "0s".into()
                } else if a < 1e-3 {
                    format!("{}µs", trim(v * 1e6, sig))
                } else if a < 1.0 {
                    format!("{}ms", trim(v * 1e3, sig))
                } else if a < 60.0 {
                    format!("{}s", trim(v, sig))
                } else if a < 3600.0 {
                    format!("{}min", trim(v / 60.0, sig))
                } else if a < 86400.0 {
                    format!("{}h", trim(v / 3600.0, sig))
                } else {
                    format!("{}d", trim(v / 86400.0, sig))
                }
            }
            Unit::Reqps => format!("{} req/s", si(v, sig)),
            Unit::Bytes => {
                const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
                let mut x = v;
                let mut i = 0;
                while x.abs() >= 1024.0 && i < UNITS.len() - 1 {
                    x /= 1024.0;
                    i += 1;
                }
                format!("{} {}", trim(x, sig), UNITS[i])
            }
            Unit::Short => si(v, sig),
        }
    }

    /// Grafana's unit id for this unit.
    pub fn grafana(self) -> &'static str {
        match self {
            Unit::Percent => "percentunit",
            Unit::Seconds => "s",
            Unit::Reqps => "reqps",
            Unit::Bytes => "bytes",
            Unit::Short => "short",
        }
    }
}

/// `v` with `k`, `M`, `G`, `T` suffixes and at most `sig` significant digits.
fn si(v: f64, sig: i32) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{}{suffix}", trim(x, sig))
}

/// `v` with at most `sig` significant digits and no trailing zeros.
fn trim(v: f64, sig: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (sig - 1 - magnitude).clamp(0, 9) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Up to about `target` evenly spaced round values (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering
/// `[min, max]`: the first tick is at or below `min`, the last at or above `max`.
pub fn nice_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    if !min.is_finite() || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let (mut lo, mut hi) = if min <= max { (min, max) } else { (max, min) };
    if hi - lo < f64::EPSILON * lo.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
        if min >= 0.0 && lo < 0.0 {
            lo = 0.0;
        }
    }
    let rough = (hi - lo) / target.max(2) as f64;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let n = ((last - first) as usize).min(100);
    // Snap away floating-point dust (0.6000000000000001) by rounding to the step's decimals.
    let decimals = (-(step.log10().floor()) as i32 + 1).clamp(0, 15);
    let scale = 10f64.powi(decimals);
    (0..=n)
        .map(|i| ((first + i as f64) * step * scale).round() / scale)
        .collect()
}

/// The labels of the y axis ticks `ticks` in `unit`: as few significant digits as tell
/// every tick apart (at least 3), so that a narrow range does not read `99.9% 99.9%`.
pub fn tick_labels(unit: Unit, ticks: &[f64]) -> Vec<String> {
    let mut labels = Vec::new();
    for sig in 3..=12 {
        labels = ticks.iter().map(|t| unit.format_digits(*t, sig)).collect();
        if all_distinct(&labels) {
            break;
        }
    }
    labels
}

fn all_distinct(labels: &[String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    labels.iter().all(|l| seen.insert(l.as_str()))
}

/// Steps a time axis may use, in seconds.
const TIME_STEPS: [i64; 17] = [
    10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
    2592000,
];

/// Time-axis ticks for `[start_ms, end_ms]`: round instants in `tz` (whole minutes, hours or
/// days) about `target` of them, each with its label (`15:30`, `11-22 15:30` when the range
/// spans more than a day, `11-22` for ticks a day or more apart). Labels always differ: where
/// the short form would repeat one, every label carries the date and the year.
pub fn time_ticks(start_ms: i64, end_ms: i64, tz: &TimeZone, target: usize) -> Vec<(i64, String)> {
    if end_ms <= start_ms {
        return Vec::new();
    }
    let span_s = (end_ms - start_ms) / 1000;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| span_s / s <= target.max(1) as i64)
        .unwrap_or(2592000);
    let offset_s = Timestamp::from_millisecond(start_ms)
        .map(|t| tz.to_offset(t).seconds() as i64)
        .unwrap_or(0);
    let local_start = start_ms.div_euclid(1000) + offset_s;
    let mut t = (local_start.div_euclid(step) + 1) * step - offset_s;
    if (t - step) * 1000 >= start_ms {
        t -= step;
    }
    let fmt = if step >= 86400 {
        "%m-%d"
    } else if span_s > 86400 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    let mut out = Vec::new();
    while t * 1000 <= end_ms && out.len() < 64 {
        out.push((t * 1000, format_time(t * 1000, tz, fmt)));
        t += step;
    }
    let labels: Vec<String> = out.iter().map(|(_, l)| l.clone()).collect();
    if !all_distinct(&labels) {
        for (t, l) in &mut out {
            *l = format_time(*t, tz, "%Y-%m-%d %H:%M");
        }
    }
    out
}

/// `ms` since the epoch in `tz` with a `strftime` format.
pub fn format_time(ms: i64, tz: &TimeZone, fmt: &str) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_zoned(tz.clone()).strftime(fmt).to_string(),
        Err(_) => String::from("?"),
    }
}

/// One line of a chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// `(ms since the epoch, value)`, in time order; NaN breaks the line.
    pub points: Vec<(i64, f64)>,
}

/// How series are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    #[default]
    Line,
    /// A line with the area under it filled (one series reads best).
    Area,
}

/// A chart to render.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub unit: Unit,
    pub style: Style,
    pub series: &'a [Series],
    pub start_ms: i64,
    pub end_ms: i64,
    /// Horizontal dashed lines (e.g. the warning and critical levels).
    pub thresholds: &'a [f64],
    /// Forces the y axis to include these values (e.g. 0 and 1 for a ratio).
    pub include: &'a [f64],
    /// Points further apart than this are not joined.
    pub max_gap_ms: i64,
    pub tz: &'a TimeZone,
}

const W: f64 = 640.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_LEFT: f64 = 78.0;
const PLOT_RIGHT: f64 = 630.0;
const PLOT_BOTTOM: f64 = 170.0;
const LEGEND_LINE: f64 = 16.0;
/// The most points of one series that get a hover title (evenly spread over it).
const HOVER_POINTS: usize = 120;
/// Series colours: distinguishable, and readable in greyscale print by lightness.
const PALETTE: [&str; 8] = [
    "#1f5fa8", "#c0392b", "#2e8b57", "#b8860b", "#6a3d9a", "#d2691e", "#008b8b", "#555555",
];

impl Chart<'_> {
    /// The chart as an `<svg>` element.
    pub fn render(&self) -> String {
        let legend_rows = self.series.len().min(12);
        // At least one legend line: the time axis' zone sits left of it.
        let height = PLOT_BOTTOM + 26.0 + legend_rows.max(1) as f64 * LEGEND_LINE;
        let mut s = String::with_capacity(4096);
        let _ = write!(
            s,
            r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" role="img" aria-label="{t}"><title>{t}</title>"#,
            t = escape(self.title)
        );
        let values = self
            .series
            .iter()
            .flat_map(|se| se.points.iter().map(|p| p.1))
            .chain(self.thresholds.iter().copied())
            .chain(self.include.iter().copied())
            .filter(|v| v.is_finite());
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let has_data = self
            .series
            .iter()
            .any(|se| se.points.iter().any(|p| p.1.is_finite()));
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let ticks = nice_ticks(lo, hi, 5);
        let y0 = ticks.first().copied().unwrap_or(0.0);
        let y1 = ticks.last().copied().unwrap_or(1.0);
        let span = if y1 > y0 { y1 - y0 } else { 1.0 };
        let y = |v: f64| PLOT_BOTTOM - (v - y0) / span * (PLOT_BOTTOM - PLOT_TOP);
        let t_span = (self.end_ms - self.start_ms).max(1) as f64;
        let x = |t: i64| PLOT_LEFT + (t - self.start_ms) as f64 / t_span * (PLOT_RIGHT - PLOT_LEFT);

        // Axes and grid.
        s.push_str(r#"<g class="axis y">"#);
        for (t, label) in ticks.iter().zip(tick_labels(self.unit, &ticks)) {
            let yy = y(*t);
            let _ = write!(
                s,
                r#"<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{lx}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
                lx = PLOT_LEFT - 6.0,
                ty = yy + 4.0,
                label = escape(&label),
            );
        }
        s.push_str("</g><g class=\"axis x\">");
        let _ = write!(
            s,
            r#"<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM}" class="base"/>"#
        );
        for (t, label) in time_ticks(self.start_ms, self.end_ms, self.tz, 6) {
            let xx = x(t);
            let _ = write!(
                s,
                r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{PLOT_BOTTOM}" y2="{b:.1}" class="base"/><text x="{xx:.1}" y="{ty:.1}" text-anchor="middle">{label}</text>"#,
                b = PLOT_BOTTOM + 4.0,
                ty = PLOT_BOTTOM + 16.0,
                label = escape(&label),
            );
        }
        // The time axis' unit: the zone its labels are in, below the y axis' labels and
        // clear of the first time label.
        let _ = write!(
            s,
            r#"<text class="axis-unit" x="{lx}" y="{ty:.1}" text-anchor="end">{zone}</text>"#,
            lx = PLOT_LEFT - 6.0,
            ty = PLOT_BOTTOM + 30.0,
            zone = escape(&zone_name(self.tz, self.end_ms)),
        );
        s.push_str("</g>");
        for th in self.thresholds.iter().filter(|v| v.is_finite()) {
            let yy = y(*th);
            let _ = write!(
                s,
                r#"<line class="threshold" x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{yy:.1}" y2="{yy:.1}"/>"#
            );
        }
        if !has_data {
            let _ = write!(
                s,
                r#"<text class="nodata" x="{cx}" y="{cy}" text-anchor="middle">no data</text>"#,
                cx = (PLOT_LEFT + PLOT_RIGHT) / 2.0,
                cy = (PLOT_TOP + PLOT_BOTTOM) / 2.0
            );
        }
        // Series.
        for (i, se) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let segments = segments(&se.points, self.max_gap_ms);
            for seg in segments {
                let mut d = String::with_capacity(seg.len() * 14);
                for (j, (t, v)) in seg.iter().enumerate() {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1}",
                        if j == 0 { "M" } else { "L" },
                        x(*t),
                        y(v.clamp(y0, y1))
                    );
                }
                if self.style == Style::Area {
                    if let (Some(first), Some(last)) = (seg.first(), seg.last()) {
                        let base = y(y0.max(0.0).min(y1));
                        let _ = write!(
                            s,
                            r#"<path class="area" fill="{colour}" d="{d}L{:.1},{base:.1}L{:.1},{base:.1}Z"/>"#,
                            x(last.0),
                            x(first.0)
                        );
                    }
                }
                if seg.len() == 1 {
                    let _ = write!(
                        s,
                        r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="2" fill="{colour}"/>"#,
                        x(seg[0].0),
                        y(seg[0].1.clamp(y0, y1))
                    );
                } else {
                    let _ = write!(
                        s,
                        r#"<path class="line" stroke="{colour}" d="{d}"><title>{}</title></path>"#,
                        escape(&se.name)
                    );
                }
            }
        }
        // Hover titles: time and value of the series' points (at most HOVER_POINTS of each).
        s.push_str("<g class=\"points\">");
        for (i, se) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let finite: Vec<&(i64, f64)> = se.points.iter().filter(|p| p.1.is_finite()).collect();
            let stride = finite.len().div_ceil(HOVER_POINTS).max(1);
            for (t, v) in finite.into_iter().step_by(stride) {
                let _ = write!(
                    s,
                    r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}</title></circle>"#,
                    x(*t),
                    y(v.clamp(y0, y1)),
                    escape(&format!(
                        "{} · {} · {}",
                        se.name,
                        format_time(*t, self.tz, "%Y-%m-%d %H:%M:%S %Z"),
                        self.unit.format_digits(*v, 4)
                    ))
                );
            }
        }
        s.push_str("</g>");
        // Legend: colour, name, last value.
        s.push_str("<g class=\"legend\">");
        for (i, se) in self.series.iter().take(legend_rows).enumerate() {
            let ly = PLOT_BOTTOM + 34.0 + i as f64 * LEGEND_LINE;
            let last = se
                .points
                .iter()
                .rev()
                .find(|p| p.1.is_finite())
                .map(|p| self.unit.format(p.1))
                .unwrap_or_else(|| "–".into());
            let _ = write!(
                s,
                r#"<rect x="{PLOT_LEFT}" y="{ry:.1}" width="12" height="4" fill="{c}"/><text x="{tx}" y="{ly:.1}">{name} <tspan class="last">{last}</tspan></text>"#,
                ry = ly - 6.0,
                c = PALETTE[i % PALETTE.len()],
                tx = PLOT_LEFT + 18.0,
                name = escape(&se.name),
                last = escape(&last),
            );
        }
        if self.series.len() > legend_rows {
            let _ = write!(
                s,
                r#"<text x="{PLOT_LEFT}" y="{:.1}">… {} more</text>"#,
                PLOT_BOTTOM + 34.0 + legend_rows as f64 * LEGEND_LINE,
                self.series.len() - legend_rows
            );
        }
        s.push_str("</g></svg>");
        s
    }
}

/// The name of `tz` for the time axis: its IANA name, else its abbreviation at `at_ms`.
fn zone_name(tz: &TimeZone, at_ms: i64) -> String {
    match tz.iana_name() {
        Some(n) => n.to_string(),
        None => format_time(at_ms, tz, "%Z"),
    }
}

/// Splits points into runs to draw as one path: NaN/Inf values and gaps wider than `max_gap_ms`
/// (when positive) break a run.
fn segments(points: &[(i64, f64)], max_gap_ms: i64) -> Vec<&[(i64, f64)]> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, p) in points.iter().enumerate() {
        if !p.1.is_finite() {
            if let Some(s) = start.take() {
                out.push(&points[s..i]);
            }
            continue;
        }
        match start {
            None => start = Some(i),
            Some(s) if max_gap_ms > 0 && i > s && p.0 - points[i - 1].0 > max_gap_ms => {
                out.push(&points[s..i]);
                start = Some(i);
            }
            Some(_) => {}
        }
    }
    if let Some(s) = start {
        out.push(&points[s..]);
    }
    out
}

/// Escapes text for XML/HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_range_with_round_steps() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(3.0, 97.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let t = nice_ticks(0.0012, 0.0047, 5);
        assert!(t[0] <= 0.0012 && *t.last().unwrap() >= 0.0047, "{t:?}");
        assert!(t.len() <= 8, "{t:?}");
        assert_eq!(nice_ticks(0.1, 0.3, 2), vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn nice_ticks_of_a_flat_or_bad_range_are_still_an_axis() {
        let t = nice_ticks(5.0, 5.0, 5);
        assert!(
            t.len() >= 2 && t[0] <= 5.0 && *t.last().unwrap() >= 5.0,
            "{t:?}"
        );
        assert_eq!(nice_ticks(0.0, 0.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(f64::NAN, 1.0, 5), vec![0.0, 1.0]);
    }

    #[test]
    fn units_are_written_for_a_reader() {
        assert_eq!(Unit::Percent.format(0.125), "12.5%");
        assert_eq!(Unit::Percent.format(0.999), "99.9%");
        assert_eq!(Unit::Percent.format(1.0), "100%");
        assert_eq!(Unit::Seconds.format(0.23), "230ms");
        assert_eq!(Unit::Seconds.format(0.00005), "50µs");
        assert_eq!(Unit::Seconds.format(2.5), "2.5s");
        assert_eq!(Unit::Seconds.format(7200.0), "2h");
        assert_eq!(Unit::Reqps.format(4.2), "4.2 req/s");
        assert_eq!(Unit::Reqps.format(12_300.0), "12.3k req/s");
        assert_eq!(Unit::Bytes.format(1536.0), "1.5 KiB");
        assert_eq!(Unit::Bytes.format(3.0 * 1024.0 * 1024.0 * 1024.0), "3 GiB");
        assert_eq!(Unit::Short.format(0.0), "0");
        assert_eq!(Unit::Short.format(f64::NAN), "NaN");
        assert_eq!(Unit::Short.format(2_000_000.0), "2M");
    }

    #[test]
    fn time_ticks_are_round_minutes_in_the_viewers_zone() {
        // 2026-11-22T10:03:20Z .. +1h
        let start = 1_795_341_800_000;
        let ticks = time_ticks(start, start + 3_600_000, &TimeZone::UTC, 6);
        assert_eq!(ticks[0].1, "10:10");
        assert!(ticks.iter().all(|(t, _)| t % 600_000 == 0));
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        let local = time_ticks(start, start + 3_600_000, &kolkata, 6);
        assert_eq!(local[0].1, "15:40", "UTC+5:30 labels");
        let days = time_ticks(start, start + 7 * 86_400_000, &TimeZone::UTC, 6);
        assert!(days[0].1.starts_with("11-2"), "{days:?}");
    }

    fn is_well_formed(svg: &str) -> bool {
        // A small XML checker: every tag opened is closed in order.
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let Some(end) = rest.find('>') else {
                return false;
            };
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("").to_string();
                stack.push(name);
            }
            if tag.contains('<') {
                return false;
            }
        }
        stack.is_empty()
    }

    #[test]
    fn chart_svg_is_well_formed_with_axes_lines_and_legend() {
        let start = 1_795_341_800_000;
        let series = vec![
            Series {
                name: "checkout <p99>".into(),
                points: (0..60)
                    .map(|i| (start + i * 60_000, 0.1 + i as f64 / 600.0))
                    .collect(),
            },
            Series {
                name: "catalog".into(),
                points: vec![
                    (start, 0.2),
                    (start + 60_000, f64::NAN),
                    (start + 120_000, 0.3),
                ],
            },
        ];
        let svg = Chart {
            title: "Latency & more",
            unit: Unit::Seconds,
            style: Style::Line,
            series: &series,
            start_ms: start,
            end_ms: start + 3_600_000,
            thresholds: &[0.25],
            include: &[0.0],
            max_gap_ms: 0,
            tz: &TimeZone::UTC,
        }
        .render();
        assert!(is_well_formed(&svg), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Latency &amp; more"));
        assert!(svg.contains("checkout &lt;p99&gt;"), "legend is escaped");
        assert!(svg.contains(">200ms<"), "y tick in the unit: {svg}");
        assert!(svg.contains(">10:10<"), "time tick");
        assert!(svg.contains("class=\"threshold\""));
        assert_eq!(svg.matches("class=\"line\"").count(), 1, "{svg}");
        assert_eq!(
            svg.matches("class=\"dot\"").count(),
            2,
            "NaN splits catalog in two points"
        );
        // Every point has a hover title with its series, time and value.
        assert_eq!(svg.matches("class=\"pt\"").count(), 62);
        assert!(
            svg.contains("<title>catalog · 2026-11-22 10:05:20 UTC · 300ms</title>"),
            "{svg}"
        );
        assert!(svg.contains(">UTC</text>"), "the time axis names its zone");
    }

    #[test]
    fn a_long_series_gets_hover_titles_on_evenly_spread_points() {
        let series = [Series {
            name: "s".into(),
            points: (0..1000).map(|i| (i * 1000, i as f64)).collect(),
        }];
        let svg = Chart {
            title: "x",
            unit: Unit::Short,
            style: Style::Line,
            series: &series,
            start_ms: 0,
            end_ms: 1_000_000,
            thresholds: &[],
            include: &[],
            max_gap_ms: 0,
            tz: &TimeZone::UTC,
        }
        .render();
        assert_eq!(svg.matches("class=\"pt\"").count(), 1000 / 9 + 1);
    }

    /// A narrow range (an SLI near its objective) reads 99.9% on every tick with three
    /// significant digits: the labels take as many digits as tell them apart.
    #[test]
    fn tick_labels_of_a_narrow_range_differ() {
        let ticks = nice_ticks(0.9991, 0.99995, 5);
        let labels = tick_labels(Unit::Percent, &ticks);
        assert_eq!(
            labels,
            ["99.9%", "99.92%", "99.94%", "99.96%", "99.98%", "100%"],
            "{ticks:?}"
        );
        assert_eq!(
            tick_labels(Unit::Seconds, &[0.0, 0.1, 0.2]),
            ["0s", "100ms", "200ms"]
        );
    }

    #[test]
    fn time_tick_labels_never_repeat() {
        // 2026-11-22T10:03:20Z: a month in day steps reads as dates, and no range repeats a
        // label.
        let start = 1_795_341_800_000;
        let month = time_ticks(start, start + 30 * 86_400_000, &TimeZone::UTC, 6);
        assert!(month.iter().all(|(_, l)| l.len() == 5), "{month:?}");
        for span in [3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000] {
            let ticks = time_ticks(start, start + span, &TimeZone::UTC, 6);
            let labels: Vec<String> = ticks.into_iter().map(|(_, l)| l).collect();
            assert!(all_distinct(&labels), "{labels:?}");
        }
    }

    #[test]
    fn empty_chart_says_no_data() {
        let svg = Chart {
            title: "x",
            unit: Unit::Percent,
            style: Style::Area,
            series: &[],
            start_ms: 0,
            end_ms: 60_000,
            thresholds: &[],
            include: &[],
            max_gap_ms: 0,
            tz: &TimeZone::UTC,
        }
        .render();
        assert!(is_well_formed(&svg));
        assert!(svg.contains("no data"));
    }

    #[test]
    fn gaps_wider_than_the_limit_break_the_line() {
        let pts = [(0, 1.0), (10, 1.0), (100, 1.0), (110, 1.0)];
        assert_eq!(segments(&pts, 20).len(), 2);
        assert_eq!(segments(&pts, 0).len(), 1);
    }
}
