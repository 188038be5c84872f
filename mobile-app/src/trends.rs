//! Trends, pure: morning and evening averages as home-BP guidelines use them, and the chart's
//! geometry. The chart is built as SVG path commands for a Slint `Path` with a fixed view box;
//! long ranges are reduced to one min/max pair per pixel column so drawing stays cheap however
//! many readings there are.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};

use crate::config::BpConfig;
use crate::model::Session;
use crate::store::BpPoint;

/// Chart view box: width in columns, height in units. The UI stretches it to the element.
pub const VIEW_W: f64 = 360.0;
pub const VIEW_H: f64 = 200.0;

/// A range of days the chart shows, ending today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrendRange {
    #[default]
    TwoWeeks,
    ThreeMonths,
    OneYear,
    TwoYears,
}

impl TrendRange {
    pub const ALL: [TrendRange; 4] =
        [Self::TwoWeeks, Self::ThreeMonths, Self::OneYear, Self::TwoYears];
    pub fn days(self) -> i64 {
        match self {
            Self::TwoWeeks => 14,
            Self::ThreeMonths => 91,
            Self::OneYear => 365,
            Self::TwoYears => 730,
        }
    }
    pub fn index(self) -> i32 {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0) as i32
    }
    pub fn from_index(i: i32) -> Self {
        usize::try_from(i).ok().and_then(|i| Self::ALL.get(i).copied()).unwrap_or_default()
    }
}

/// The mean of one session over recent days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionAverage {
    pub systolic: f64,
    pub diastolic: f64,
    /// Days with at least one reading in this session.
    pub days: u32,
    /// Enough days for the guideline's average (`min_days` of the last `days`).
    pub valid: bool,
}

/// Morning and evening averages over the configured number of days up to and including `today`.
/// Readings of one occasion (several readings in one morning) are averaged first, then the days
/// are averaged, so an extra reading on one day does not outweigh the others.
pub fn session_averages(
    points: &[BpPoint],
    today: NaiveDate,
    cfg: &BpConfig,
) -> (Option<SessionAverage>, Option<SessionAverage>) {
    let first = today - Duration::days(i64::from(cfg.averages.days) - 1);
    let mut per_day: BTreeMap<(Session, NaiveDate), (f64, f64, u32)> = BTreeMap::new();
    for p in points {
        let day = p.measured_at.date_naive();
        if day < first || day > today || p.session == Session::Other {
            continue;
        }
        let e = per_day.entry((p.session, day)).or_insert((0.0, 0.0, 0));
        e.0 += p.systolic;
        e.1 += p.diastolic;
        e.2 += 1;
    }
    let average = |session: Session| {
        let days: Vec<(f64, f64)> = per_day
            .iter()
            .filter(|((s, _), _)| *s == session)
            .map(|(_, (s, d, n))| (s / f64::from(*n), d / f64::from(*n)))
            .collect();
        if days.is_empty() {
            return None;
        }
        let n = days.len() as f64;
        Some(SessionAverage {
            systolic: days.iter().map(|d| d.0).sum::<f64>() / n,
            diastolic: days.iter().map(|d| d.1).sum::<f64>() / n,
            days: days.len() as u32,
            valid: days.len() as u32 >= cfg.averages.min_days,
        })
    };
    (average(Session::Morning), average(Session::Evening))
}

/// Everything the chart draws, in view-box coordinates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    pub systolic_path: String,
    pub diastolic_path: String,
    /// Small marks at each reading (only for short ranges, where single readings matter).
    pub systolic_dots: String,
    pub diastolic_dots: String,
    /// Dashed threshold lines: home-BP advisory (135/85) and emergency (160/110).
    pub advisory_path: String,
    pub emergency_path: String,
    /// Horizontal grid lines with their mmHg labels (label, y as a fraction of the height).
    pub grid: Vec<(i32, f64)>,
    /// Date labels along the x axis: (x as a fraction of the width, date).
    pub x_ticks: Vec<(f64, NaiveDate)>,
    pub y_min: f64,
    pub y_max: f64,
    /// Points drawn per series after reduction.
    pub points: usize,
    pub readings: usize,
}

/// Builds the chart for `range` ending `today` (inclusive) from readings in time order.
pub fn build_chart(
    points: &[BpPoint],
    range: TrendRange,
    today: NaiveDate,
    cfg: &BpConfig,
) -> Chart {
    let days = range.days();
    let first = today - Duration::days(days - 1);
    let start = first.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0);
    let span = (days * 86_400) as f64;
    let in_range: Vec<&BpPoint> = points
        .iter()
        .filter(|p| {
            let d = p.measured_at.date_naive();
            d >= first && d <= today
        })
        .collect();

    // Fixed scale covering the thresholds, widened to fit the data.
    let mut y_min: f64 = 50.0;
    let mut y_max: f64 = 170.0;
    for p in &in_range {
        y_min = y_min.min((p.diastolic / 10.0).floor() * 10.0 - 10.0);
        y_max = y_max.max((p.systolic / 10.0).ceil() * 10.0 + 10.0);
    }
    let y = |mmhg: f64| VIEW_H - (mmhg - y_min) / (y_max - y_min) * VIEW_H;
    // Local wall-clock seconds, so a morning reading sits in the morning of its day.
    let x = |t: DateTime<FixedOffset>| {
        let local = t.naive_local().and_utc().timestamp();
        ((local - start) as f64 / span * VIEW_W).clamp(0.0, VIEW_W)
    };

    let short = range == TrendRange::TwoWeeks;
    let (systolic_path, diastolic_path, systolic_dots, diastolic_dots, drawn) = if short {
        let sys: Vec<(f64, f64)> =
            in_range.iter().map(|p| (x(p.measured_at), y(p.systolic))).collect();
        let dia: Vec<(f64, f64)> =
            in_range.iter().map(|p| (x(p.measured_at), y(p.diastolic))).collect();
        (polyline(&sys), polyline(&dia), dots(&sys), dots(&dia), sys.len())
    } else {
        // Daily means first (two readings a day become one point), then min/max per column.
        let mut daily: BTreeMap<NaiveDate, (f64, f64, u32)> = BTreeMap::new();
        for p in &in_range {
            let e = daily.entry(p.measured_at.date_naive()).or_insert((0.0, 0.0, 0));
            e.0 += p.systolic;
            e.1 += p.diastolic;
            e.2 += 1;
        }
        let day_x = |d: NaiveDate| ((d - first).num_days() as f64 + 0.5) / days as f64 * VIEW_W;
        let sys: Vec<(f64, f64)> =
            daily.iter().map(|(d, (s, _, n))| (day_x(*d), y(s / f64::from(*n)))).collect();
        let dia: Vec<(f64, f64)> =
            daily.iter().map(|(d, (_, v, n))| (day_x(*d), y(v / f64::from(*n)))).collect();
        let (sys, dia) = (min_max_per_column(&sys), min_max_per_column(&dia));
        (polyline(&sys), polyline(&dia), String::new(), String::new(), sys.len())
    };

    let grid = (0..)
        .map(|i| (y_min / 30.0).ceil() as i32 * 30 + i * 30)
        .take_while(|v| f64::from(*v) <= y_max)
        .map(|v| (v, y(f64::from(v)) / VIEW_H))
        .collect();
    let x_ticks = (0..3)
        .map(|i| {
            let offset = (days - 1) * i / 2;
            let d = first + Duration::days(offset);
            ((offset as f64 + 0.5) / days as f64, d)
        })
        .collect();
    Chart {
        systolic_path,
        diastolic_path,
        systolic_dots,
        diastolic_dots,
        advisory_path: dashed(&[y(cfg.advisory.systolic), y(cfg.advisory.diastolic)]),
        emergency_path: dashed(&[y(cfg.emergency.systolic), y(cfg.emergency.diastolic)]),
        grid,
        x_ticks,
        y_min,
        y_max,
        points: drawn,
        readings: in_range.len(),
    }
}

/// Width of a reduction bucket in view-box units: two units, about two device pixels on a phone.
pub const BUCKET: f64 = 2.0;

/// Keeps, per bucket of [`BUCKET`] view-box units, the lowest and the highest point in time order:
/// at this width the line looks the same, and a frame costs the same however many readings
/// there are (at most 2 × VIEW_W / BUCKET points).
pub fn min_max_per_column(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len().min(2 * (VIEW_W / BUCKET) as usize + 2));
    let mut i = 0;
    while i < points.len() {
        let bucket = (points[i].0 / BUCKET).floor();
        let mut j = i;
        while j < points.len() && (points[j].0 / BUCKET).floor() == bucket {
            j += 1;
        }
        let group = &points[i..j];
        if group.len() <= 2 {
            out.extend_from_slice(group);
        } else {
            let lo =
                (0..group.len()).min_by(|a, b| group[*a].1.total_cmp(&group[*b].1)).unwrap_or(0);
            let hi =
                (0..group.len()).max_by(|a, b| group[*a].1.total_cmp(&group[*b].1)).unwrap_or(0);
            let (first, second) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            out.push(group[first]);
            if second != first {
                out.push(group[second]);
            }
        }
        i = j;
    }
    out
}

fn polyline(points: &[(f64, f64)]) -> String {
    let mut s = String::with_capacity(points.len() * 14);
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(s, "{}{x:.1} {y:.1} ", if i == 0 { "M " } else { "L " });
    }
    s
}

fn dots(points: &[(f64, f64)]) -> String {
    let mut s = String::with_capacity(points.len() * 40);
    for (x, y) in points {
        // A small diamond: cheap to rasterise and readable at phone size.
        let _ = write!(
            s,
            "M {:.1} {y:.1} L {x:.1} {:.1} L {:.1} {y:.1} L {x:.1} {:.1} Z ",
            x - 3.0,
            y - 3.5,
            x + 3.0,
            y + 3.5
        );
    }
    s
}

fn dashed(ys: &[f64]) -> String {
    let mut s = String::new();
    for y in ys {
        let mut x = 0.0;
        while x < VIEW_W {
            let _ = write!(s, "M {x:.1} {y:.1} L {:.1} {y:.1} ", (x + 5.0).min(VIEW_W));
            x += 9.0;
        }
    }
    s
}

/// The weight chart: weight (or gain) against gestational week, 0–42, in the same view box.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WeightChart {
    pub line: String,
    pub dots: String,
    /// Dashed lines at the lower and upper target gain, when a target applies.
    pub target: String,
    pub grid: Vec<(f64, f64)>,
    pub x_ticks: Vec<(f64, u32)>,
}

/// Builds the weight chart from (gestational week, kg) points in time order. `target` is the
/// (min, max) gain by birth, drawn when the points are gains.
pub fn weight_chart(points: &[(f64, f64)], target: Option<(f64, f64)>) -> WeightChart {
    const WEEKS: f64 = 42.0;
    let mut lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if let Some((min, max)) = target {
        lo = lo.min(0.0).min(min);
        hi = hi.max(max);
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 10.0);
    }
    // Round the scale to whole steps with a margin, at least 4 kg tall.
    let step = if hi - lo > 12.0 { 5.0 } else { 2.0 };
    // Gains start at zero; only a loss (early sickness) takes the scale below it.
    let lo = if target.is_some() && lo >= 0.0 { 0.0 } else { ((lo - 1.0) / step).floor() * step };
    let hi = ((hi + 1.0) / step).ceil() * step;
    let hi = hi.max(lo + 4.0);
    let x = |w: f64| (w / WEEKS * VIEW_W).clamp(0.0, VIEW_W);
    let y = |kg: f64| VIEW_H - (kg - lo) / (hi - lo) * VIEW_H;
    let xy: Vec<(f64, f64)> = points.iter().map(|(w, kg)| (x(*w), y(*kg))).collect();
    let mut dots_path = String::new();
    for (px, py) in &xy {
        let _ = write!(
            dots_path,
            "M {:.1} {py:.1} A 3 3 0 1 1 {:.1} {py:.1} A 3 3 0 1 1 {:.1} {py:.1} Z ",
            px - 3.0,
            px + 3.0,
            px - 3.0
        );
    }
    let grid = (0..)
        .map(|i| lo + f64::from(i) * step)
        .take_while(|v| *v <= hi + 1e-9)
        .map(|v| (v, y(v) / VIEW_H))
        .collect();
    WeightChart {
        line: polyline(&xy),
        dots: dots_path,
        target: target.map(|(min, max)| dashed(&[y(min), y(max)])).unwrap_or_default(),
        grid,
        x_ticks: [0u32, 10, 20, 30, 40].iter().map(|w| (f64::from(*w) / WEEKS, *w)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    fn p(at: &str, s: f64, d: f64, session: Session) -> BpPoint {
        BpPoint {
            measured_at: DateTime::parse_from_rfc3339(at).unwrap(),
            systolic: s,
            diastolic: d,
            session,
        }
    }

    fn cfg() -> BpConfig {
        AppConfig::default().blood_pressure
    }

    #[test]
    fn averages_are_per_session_with_occasions_averaged_first() {
        let today: NaiveDate = "2026-05-12".parse().unwrap();
        let mut pts = Vec::new();
        for day in 6..=12 {
            pts.push(p(&format!("2026-05-{day:02}T07:00:00+09:00"), 120.0, 80.0, Session::Morning));
            pts.push(p(&format!("2026-05-{day:02}T22:00:00+09:00"), 110.0, 70.0, Session::Evening));
        }
        // A second reading on one morning counts with its occasion, not as an extra day.
        pts.push(p("2026-05-12T07:03:00+09:00", 140.0, 90.0, Session::Morning));
        // Outside the 7 days, and an "other" reading: ignored.
        pts.push(p("2026-05-05T07:00:00+09:00", 200.0, 120.0, Session::Morning));
        pts.push(p("2026-05-10T14:00:00+09:00", 200.0, 120.0, Session::Other));
        let (m, e) = session_averages(&pts, today, &cfg());
        let m = m.unwrap();
        assert_eq!(m.days, 7);
        assert!(m.valid);
        // Six days at 120 and one day at (120+140)/2 = 130: (6*120 + 130) / 7.
        assert!((m.systolic - (6.0 * 120.0 + 130.0) / 7.0).abs() < 1e-9);
        assert!((m.diastolic - (6.0 * 80.0 + 85.0) / 7.0).abs() < 1e-9);
        let e = e.unwrap();
        assert_eq!((e.systolic, e.diastolic, e.days), (110.0, 70.0, 7));
    }

    #[test]
    fn averages_with_too_few_days_are_marked_not_valid() {
        let today: NaiveDate = "2026-05-12".parse().unwrap();
        let pts: Vec<_> = (9..=12)
            .map(|d| p(&format!("2026-05-{d:02}T07:00:00+09:00"), 120.0, 80.0, Session::Morning))
            .collect();
        let (m, e) = session_averages(&pts, today, &cfg());
        assert_eq!(m.map(|m| (m.days, m.valid)), Some((4, false)));
        assert_eq!(e, None);
    }

    #[test]
    fn min_max_reduction_keeps_extremes_and_bounds_the_point_count() {
        // 10,000 points over 360 columns.
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64 * VIEW_W / 10_000.0, (i as f64 * 0.37).sin() * 50.0 + 100.0))
            .collect();
        let reduced = min_max_per_column(&pts);
        assert!(reduced.len() <= 2 * (VIEW_W / BUCKET) as usize, "{}", reduced.len());
        let max = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(reduced.iter().any(|p| p.1 == max) && reduced.iter().any(|p| p.1 == min));
        assert!(reduced.windows(2).all(|w| w[0].0 <= w[1].0), "time order kept");
        // Sparse input is untouched.
        let sparse = vec![(1.0, 5.0), (3.0, 6.0)];
        assert_eq!(min_max_per_column(&sparse), sparse);
    }

    #[test]
    fn chart_places_readings_and_thresholds_on_the_scale() {
        let today: NaiveDate = "2026-05-12".parse().unwrap();
        let pts = vec![
            p("2026-05-11T07:00:00+09:00", 130.0, 80.0, Session::Morning),
            p("2026-05-12T07:00:00+09:00", 150.0, 95.0, Session::Morning),
        ];
        let c = build_chart(&pts, TrendRange::TwoWeeks, today, &cfg());
        assert_eq!((c.readings, c.points), (2, 2));
        assert_eq!((c.y_min, c.y_max), (50.0, 170.0));
        // 150 mmHg on a 50–170 scale of height 200: y = 200 - 100/120*200.
        let expected_y = VIEW_H - (150.0 - 50.0) / 120.0 * VIEW_H;
        assert!(c.systolic_path.contains(&format!("{expected_y:.1}")), "{}", c.systolic_path);
        // Day 14 of 14 at 07:00 local: x = (13 days + 7 h) / 14 days * 360.
        let expected_x = (13.0 * 24.0 + 7.0) / (14.0 * 24.0) * VIEW_W;
        assert!(c.systolic_path.contains(&format!("{expected_x:.1}")), "{}", c.systolic_path);
        let advisory_y = VIEW_H - (135.0 - 50.0) / 120.0 * VIEW_H;
        assert!(c.advisory_path.contains(&format!("{advisory_y:.1}")));
        assert_eq!(c.grid.iter().map(|g| g.0).collect::<Vec<_>>(), vec![60, 90, 120, 150]);
        assert_eq!(c.x_ticks.first().map(|t| t.1), Some("2026-04-29".parse().unwrap()));
    }

    #[test]
    fn weight_chart_scales_to_data_and_target() {
        let c = weight_chart(&[(12.0, 1.0), (20.0, 3.5), (28.0, 6.4)], Some((10.0, 13.0)));
        // 0–13 kg spans more than 12, so 5 kg steps from 0 (gains) to 15.
        assert_eq!(c.grid.first().map(|g| g.0), Some(0.0));
        assert_eq!(c.grid.last().map(|g| g.0), Some(15.0));
        let y13 = VIEW_H - 13.0 / 15.0 * VIEW_H;
        assert!(c.target.contains(&format!("{y13:.1}")), "{}", c.target);
        assert!(c.line.starts_with(&format!("M {:.1}", 12.0 / 42.0 * VIEW_W)));
        let empty = weight_chart(&[], None);
        assert!(empty.line.is_empty() && empty.target.is_empty());
    }

    #[test]
    fn two_years_of_twice_daily_readings_reduce_to_at_most_one_point_per_day() {
        let today: NaiveDate = "2026-05-12".parse().unwrap();
        let start = DateTime::parse_from_rfc3339("2024-05-13T07:00:00+09:00").unwrap();
        let pts: Vec<BpPoint> = (0..730 * 2)
            .map(|i| BpPoint {
                measured_at: start + Duration::hours(12 * i),
                systolic: 115.0 + (i % 17) as f64,
                diastolic: 72.0 + (i % 11) as f64,
                session: if i % 2 == 0 { Session::Morning } else { Session::Evening },
            })
            .collect();
        let c = build_chart(&pts, TrendRange::TwoYears, today, &cfg());
        assert_eq!(c.readings, 1460);
        assert!(c.points <= 2 * (VIEW_W / BUCKET) as usize, "{}", c.points);
        assert!(c.systolic_dots.is_empty());
    }
}
