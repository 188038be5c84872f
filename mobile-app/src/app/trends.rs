//! Trends: the chart, morning and evening averages, recent readings.

use std::rc::Rc;

use chrono::{Duration, NaiveDate};
use slint::{Color, ComponentHandle, ModelRc, SharedString, VecModel};

use super::{Ctx, format};
use crate::model::{Session, Source};
use crate::store::Store;
use crate::trends::{self, Chart, SessionAverage, TrendRange};
use crate::{AppWindow, AxisLabel, ChartLine, ReadingRow, TrendsAdapter};

/// Readings listed under the chart.
const RECENT: usize = 12;

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let c = ctx.clone();
    ui.global::<TrendsAdapter>().on_select_range(move |i| {
        c.trends_range.set(TrendRange::from_index(i));
        refresh(&c);
    });
}

/// Morning and evening averages over the configured days up to `today`.
pub(super) fn averages(
    ctx: &Ctx,
    store: &Store,
    today: NaiveDate,
) -> (Option<SessionAverage>, Option<SessionAverage>) {
    let days = i64::from(ctx.config.blood_pressure.averages.days);
    let (from, to) = day_window(ctx, today, days);
    match store.bp_series(from, to) {
        Ok(points) => trends::session_averages(&points, today, &ctx.config.blood_pressure),
        Err(e) => {
            ctx.report("reading blood pressure", &e);
            (None, None)
        }
    }
}

/// The instants bounding `days` local days ending `today`, with a day's margin for readings taken
/// in another time zone (the chart filters by local date).
fn day_window(
    ctx: &Ctx,
    today: NaiveDate,
    days: i64,
) -> (chrono::DateTime<chrono::FixedOffset>, chrono::DateTime<chrono::FixedOffset>) {
    let now = ctx.clock.now();
    let offset = *now.offset();
    let midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0).and_then(|t| t.and_local_timezone(offset).single()).unwrap_or(now)
    };
    (midnight(today - Duration::days(days)), midnight(today + Duration::days(2)))
}

fn rgb(c: u32) -> Color {
    Color::from_rgb_u8((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

pub(crate) const SYSTOLIC: u32 = 0xd2557a;
pub(crate) const DIASTOLIC: u32 = 0x4f63c2;
const ADVISORY: u32 = 0xd69a12;
const EMERGENCY: u32 = 0xd32f2f;

fn line(commands: String, color: u32, width: f32) -> ChartLine {
    ChartLine { commands: commands.into(), color: rgb(color), width }
}

/// Builds the chart for the selected range. Public so the benchmark can time it.
pub fn chart_for(
    store: &Store,
    ctx_today: NaiveDate,
    range: TrendRange,
    cfg: &crate::config::BpConfig,
    offset: chrono::FixedOffset,
) -> Result<Chart, crate::store::StoreError> {
    let midnight =
        |d: NaiveDate| d.and_hms_opt(0, 0, 0).and_then(|t| t.and_local_timezone(offset).single());
    let (Some(from), Some(to)) = (
        midnight(ctx_today - Duration::days(range.days() + 1)),
        midnight(ctx_today + Duration::days(2)),
    ) else {
        return Ok(Chart::default());
    };
    let points = store.bp_series(from, to)?;
    Ok(trends::build_chart(&points, range, ctx_today, cfg))
}

pub(super) fn refresh(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let adapter = ui.global::<TrendsAdapter>();
    let lang = ctx.language.get();
    let today = ctx.today();
    let range = ctx.trends_range.get();
    adapter.set_range(range.index());
    let store = ctx.store.borrow();
    let chart = match chart_for(
        &store,
        today,
        range,
        &ctx.config.blood_pressure,
        *ctx.clock.now().offset(),
    ) {
        Ok(c) => c,
        Err(e) => return ctx.report("reading blood pressure", &e),
    };
    push_chart(&adapter, &chart, lang);

    let cfg = &ctx.config.blood_pressure.averages;
    adapter.set_average_days(cfg.days as i32);
    adapter.set_average_min_days(cfg.min_days as i32);
    let (morning, evening) = averages(ctx, &store, today);
    adapter.set_has_morning(morning.is_some());
    adapter.set_has_evening(evening.is_some());
    let m =
        morning.unwrap_or(SessionAverage { systolic: 0.0, diastolic: 0.0, days: 0, valid: false });
    adapter.set_morning_values(format::bp(m.systolic.round(), m.diastolic.round()).into());
    adapter.set_morning_days(m.days as i32);
    adapter.set_morning_valid(m.valid);
    let e =
        evening.unwrap_or(SessionAverage { systolic: 0.0, diastolic: 0.0, days: 0, valid: false });
    adapter.set_evening_values(format::bp(e.systolic.round(), e.diastolic.round()).into());
    adapter.set_evening_days(e.days as i32);
    adapter.set_evening_valid(e.valid);

    let recent = match store.latest_readings(RECENT) {
        Ok(r) => r,
        Err(e) => return ctx.report("reading blood pressure", &e),
    };
    let rows: Vec<ReadingRow> = recent
        .iter()
        .map(|r| {
            let d = &r.data;
            let (from_cuff, clock_untrusted) = match &d.source {
                Source::Manual => (false, false),
                Source::Cuff { clock_untrusted, .. } => (true, *clock_untrusted),
            };
            ReadingRow {
                id: r.id.to_string().into(),
                date: lang.short_date(d.measured_at.date_naive()).into(),
                time: lang.time(d.measured_at.time()).into(),
                session: match d.session {
                    Session::Morning => 0,
                    Session::Evening => 1,
                    Session::Other => 2,
                },
                values: format::bp(d.systolic, d.diastolic).into(),
                pulse: d.pulse.map(crate::i18n::number).unwrap_or_default().into(),
                tier: r.tier.index(),
                from_cuff,
                clock_untrusted,
                has_symptoms: d.symptoms.any(),
            }
        })
        .collect();
    adapter.set_recent(ModelRc::new(VecModel::from(rows)));
}

fn push_chart(adapter: &TrendsAdapter<'_>, chart: &Chart, lang: crate::i18n::Language) {
    let lines = vec![
        line(chart.advisory_path.clone(), ADVISORY, 1.0),
        line(chart.emergency_path.clone(), EMERGENCY, 1.0),
        line(chart.diastolic_path.clone(), DIASTOLIC, 2.0),
        line(chart.systolic_path.clone(), SYSTOLIC, 2.0),
    ];
    let marks = vec![
        line(chart.diastolic_dots.clone(), DIASTOLIC, 1.0),
        line(chart.systolic_dots.clone(), SYSTOLIC, 1.0),
    ];
    adapter.set_lines(ModelRc::new(VecModel::from(lines)));
    adapter.set_marks(ModelRc::new(VecModel::from(marks)));
    let y: Vec<AxisLabel> = chart
        .grid
        .iter()
        .map(|(v, pos)| AxisLabel { text: SharedString::from(v.to_string()), pos: *pos as f32 })
        .collect();
    adapter.set_y_labels(ModelRc::new(VecModel::from(y)));
    let x: Vec<AxisLabel> = chart
        .x_ticks
        .iter()
        .map(|(pos, d)| AxisLabel { text: lang.short_date(*d).into(), pos: *pos as f32 })
        .collect();
    adapter.set_x_labels(ModelRc::new(VecModel::from(x)));
    adapter.set_reading_count(chart.readings as i32);
}
