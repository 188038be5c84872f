//! Prenatal check-ups: the handbook's record per visit, and the weight-gain chart.

use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{Ctx, format};
use crate::clinical::pregnancy;
use crate::i18n::{Language, number};
use crate::model::{CheckupData, Dipstick, Oedema};
use crate::trends;
use crate::{
    AppWindow, AxisLabel, ChartLine, CheckupFormAdapter, CheckupRow, CheckupsAdapter, Page,
};

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let list = ui.global::<CheckupsAdapter>();
    let c = ctx.clone();
    list.on_add(move || open_form(&c, None));
    let c = ctx.clone();
    list.on_edit(move |id| open_form(&c, uuid::Uuid::parse_str(&id).ok()));

    let form = ui.global::<CheckupFormAdapter>();
    let c = ctx.clone();
    form.on_date_edited(move |_| refresh_form_gestation(&c));
    let c = ctx.clone();
    form.on_save(move || save(&c));
    let c = ctx.clone();
    form.on_cancel(move || c.back());
    let c = ctx.clone();
    form.on_delete(move || {
        if let Some(id) = c.editing_checkup.get() {
            let now = c.clock.now();
            if let Err(e) = c.store.borrow_mut().delete_checkup(id, now) {
                return c.report("deleting the check-up", &e);
            }
        }
        c.navigate(Page::Checkups);
    });
}

fn dipstick_index(d: Dipstick) -> i32 {
    Dipstick::ALL.iter().position(|x| *x == d).unwrap_or(0) as i32
}

fn oedema_index(o: Oedema) -> i32 {
    Oedema::ALL.iter().position(|x| *x == o).unwrap_or(0) as i32
}

fn optional(v: Option<f64>) -> SharedString {
    v.map(number).unwrap_or_default().into()
}

fn open_form(ctx: &Rc<Ctx>, id: Option<uuid::Uuid>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let form = ui.global::<CheckupFormAdapter>();
    let existing = match id.map(|id| ctx.store.borrow().checkup(id)) {
        Some(Ok(found)) => found,
        Some(Err(e)) => return ctx.report("reading the check-up", &e),
        None => None,
    };
    ctx.editing_checkup.set(existing.as_ref().map(|c| c.id));
    let data = existing.map(|c| c.data).unwrap_or_else(|| {
        // A new visit: today, at the facility of the last one.
        let facility = ctx
            .store
            .borrow()
            .checkups()
            .ok()
            .and_then(|l| l.last().map(|c| c.data.facility.clone()))
            .unwrap_or_default();
        CheckupData { date: ctx.today(), facility, ..Default::default() }
    });
    form.set_editing(ctx.editing_checkup.get().is_some());
    form.set_date(data.date.to_string().into());
    form.set_facility(data.facility.as_str().into());
    form.set_weight(optional(data.weight_kg));
    form.set_systolic(optional(data.systolic));
    form.set_diastolic(optional(data.diastolic));
    form.set_fundal_height(optional(data.fundal_height_cm));
    form.set_abdominal_circumference(optional(data.abdominal_circumference_cm));
    form.set_urine_protein(dipstick_index(data.urine_protein));
    form.set_urine_glucose(dipstick_index(data.urine_glucose));
    form.set_oedema(oedema_index(data.oedema));
    form.set_notes(data.notes.as_str().into());
    form.set_error(0);
    form.set_error_field(SharedString::new());
    refresh_form_gestation(ctx);
    ctx.navigate(Page::CheckupForm);
}

pub(super) fn refresh_form_gestation(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let form = ui.global::<CheckupFormAdapter>();
    let due = ctx.store.borrow().profile().ok().and_then(|p| p.due_date);
    let label = match (format::parse_date(&form.get_date()), due) {
        (Ok(Some(date)), Some(due)) => pregnancy::gestational_age(due, date)
            .map(|(w, d)| ctx.language.get().gestational_age(w, d))
            .unwrap_or_default(),
        _ => String::new(),
    };
    form.set_gestation(label.into());
}

/// A field that failed, and how: 1 date, 2 not a number, 3 out of range.
type FieldError = (&'static str, i32);

fn read_form(
    form: &CheckupFormAdapter<'_>,
    plausible: &crate::config::Plausible,
) -> Result<CheckupData, FieldError> {
    let date = match format::parse_date(&form.get_date()) {
        Ok(Some(d)) => d,
        _ => return Err(("date", 1)),
    };
    let measure =
        |text: SharedString, field: &'static str, range: [f64; 2]| match format::parse_decimal(
            &text,
        ) {
            Ok(None) => Ok(None),
            Ok(Some(v)) if v >= range[0] && v <= range[1] => Ok(Some(v)),
            Ok(Some(_)) => Err((field, 3)),
            Err(_) => Err((field, 2)),
        };
    let data = CheckupData {
        date,
        facility: form.get_facility().trim().to_string(),
        weight_kg: measure(form.get_weight(), "weight", [25.0, 250.0])?,
        systolic: measure(form.get_systolic(), "systolic", plausible.systolic)?,
        diastolic: measure(form.get_diastolic(), "diastolic", plausible.diastolic)?,
        urine_protein: Dipstick::ALL
            .get(form.get_urine_protein() as usize)
            .copied()
            .unwrap_or_default(),
        urine_glucose: Dipstick::ALL
            .get(form.get_urine_glucose() as usize)
            .copied()
            .unwrap_or_default(),
        fundal_height_cm: measure(form.get_fundal_height(), "fundal-height", [1.0, 60.0])?,
        abdominal_circumference_cm: measure(
            form.get_abdominal_circumference(),
            "abdominal-circumference",
            [40.0, 200.0],
        )?,
        oedema: Oedema::ALL.get(form.get_oedema() as usize).copied().unwrap_or_default(),
        notes: form.get_notes().trim().to_string(),
    };
    // One number of a pair is a typing slip, not a blood pressure.
    if data.systolic.is_some() != data.diastolic.is_some() {
        return Err((if data.systolic.is_none() { "systolic" } else { "diastolic" }, 2));
    }
    Ok(data)
}

fn save(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let form = ui.global::<CheckupFormAdapter>();
    let data = match read_form(&form, &ctx.config.blood_pressure.plausible) {
        Ok(d) => d,
        Err((field, code)) => {
            form.set_error_field(field.into());
            form.set_error(code);
            return;
        }
    };
    form.set_error(0);
    form.set_error_field(SharedString::new());
    let now = ctx.clock.now();
    let result = match ctx.editing_checkup.get() {
        Some(id) => ctx.store.borrow_mut().update_checkup(id, &data, now),
        None => ctx.store.borrow_mut().insert_checkup(&data, now).map(|_| ()),
    };
    if let Err(e) = result {
        return ctx.report("saving the check-up", &e);
    }
    ctx.navigate(Page::Checkups);
}

pub(super) fn refresh(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let adapter = ui.global::<CheckupsAdapter>();
    let lang = ctx.language.get();
    let ja = lang == Language::Japanese;
    let store = ctx.store.borrow();
    let (list, profile) = match (store.checkups(), store.profile()) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(e), _) | (_, Err(e)) => return ctx.report("reading check-ups", &e),
    };
    let gestation = |date| {
        profile
            .due_date
            .and_then(|due| pregnancy::gestational_age(due, date))
            .map(|(w, d)| lang.gestational_age(w, d))
            .unwrap_or_default()
    };
    let rows: Vec<CheckupRow> = list
        .iter()
        .rev()
        .map(|c| {
            let d = &c.data;
            CheckupRow {
                id: c.id.to_string().into(),
                date: lang.date_with_weekday(d.date).into(),
                gestation: gestation(d.date).into(),
                facility: d.facility.as_str().into(),
                weight: d.weight_kg.map(|w| format!("{} kg", number(w))).unwrap_or_default().into(),
                bp: match (d.systolic, d.diastolic) {
                    (Some(s), Some(dia)) => format::bp(s, dia).into(),
                    _ => SharedString::new(),
                },
                urine_protein: d.urine_protein.symbol().into(),
                urine_glucose: d.urine_glucose.symbol().into(),
                fundal_height: d
                    .fundal_height_cm
                    .map(|f| format!("{} cm", number(f)))
                    .unwrap_or_default()
                    .into(),
                abdominal_circumference: d
                    .abdominal_circumference_cm
                    .map(|f| format!("{} cm", number(f)))
                    .unwrap_or_default()
                    .into(),
                oedema: d.oedema.symbol().into(),
                notes: d.notes.as_str().into(),
            }
        })
        .collect();
    adapter.set_rows(ModelRc::new(VecModel::from(rows)));

    // Weight: as gain over the pre-pregnancy weight when she gave it, else as measured.
    let base = profile.pre_pregnancy_weight_kg;
    let target = match (profile.height_cm, base) {
        (Some(h), Some(w)) => pregnancy::weight_gain_target(&ctx.config, h, w),
        _ => None,
    };
    let points: Vec<(f64, f64)> = list
        .iter()
        .filter_map(|c| {
            let (w, d) = pregnancy::gestational_age(profile.due_date?, c.data.date)?;
            let kg = c.data.weight_kg?;
            Some((f64::from(w) + f64::from(d) / 7.0, base.map_or(kg, |b| kg - b)))
        })
        .collect();
    let chart = trends::weight_chart(
        &points,
        target.filter(|_| base.is_some()).map(|t| (t.min_kg, t.max_kg)),
    );
    let rgb = |c: u32| slint::Color::from_rgb_u8((c >> 16) as u8, (c >> 8) as u8, c as u8);
    adapter.set_weight_lines(ModelRc::new(VecModel::from(vec![
        ChartLine { commands: chart.target.into(), color: rgb(0x2e9e6b), width: 1.0 },
        ChartLine { commands: chart.line.into(), color: rgb(super::trends::SYSTOLIC), width: 2.0 },
    ])));
    adapter.set_weight_marks(ModelRc::new(VecModel::from(vec![ChartLine {
        commands: chart.dots.into(),
        color: rgb(super::trends::SYSTOLIC),
        width: 1.0,
    }])));
    let unit = if base.is_some() { "+" } else { "" };
    adapter.set_weight_y_labels(ModelRc::new(VecModel::from(
        chart
            .grid
            .iter()
            .map(|(v, pos)| AxisLabel {
                text: (if *v > 0.0 { format!("{unit}{}", number(*v)) } else { number(*v) }).into(),
                pos: *pos as f32,
            })
            .collect::<Vec<_>>(),
    )));
    adapter.set_weight_x_labels(ModelRc::new(VecModel::from(
        chart
            .x_ticks
            .iter()
            .map(|(pos, w)| AxisLabel {
                text: (if ja { format!("{w}週") } else { format!("{w}w") }).into(),
                pos: *pos as f32,
            })
            .collect::<Vec<_>>(),
    )));
    adapter.set_has_weight(!points.is_empty());
    let latest = points.last().map(|p| p.1).unwrap_or_default();
    adapter.set_weight_is_gain(base.is_some());
    adapter.set_weight_now(
        (if base.is_some() && latest >= 0.0 {
            format!("+{}", number(latest))
        } else {
            number(latest)
        })
        .into(),
    );
    let target = target.filter(|_| base.is_some());
    adapter.set_has_target(target.is_some());
    if let Some(t) = target {
        adapter.set_target_min(number(t.min_kg).into());
        adapter.set_target_max(number(t.max_kg).into());
    }
}
