//! Home: where she is in her pregnancy, her latest reading, her averages, her last check-up.

use std::rc::Rc;

use slint::ComponentHandle;

use super::{Ctx, format};
use crate::clinical::pregnancy::{self, Stage};
use crate::{AppWindow, HomeAdapter, Page};

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let home = ui.global::<HomeAdapter>();
    let c = ctx.clone();
    home.on_record_bp(move || {
        c.entry_fresh.set(true);
        c.navigate(Page::BpEntry);
    });
    let c = ctx.clone();
    home.on_import_cuff(move || c.navigate(Page::Cuff));
}

pub(super) fn refresh(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let home = ui.global::<HomeAdapter>();
    let lang = ctx.language.get();
    let today = ctx.today();
    let store = ctx.store.borrow();

    let profile = match store.profile() {
        Ok(p) => p,
        Err(e) => return ctx.report("reading the profile", &e),
    };
    home.set_greeting_name(profile.display_name.as_str().into());
    home.set_today(lang.date_with_weekday(today).into());
    match pregnancy::stage(profile.due_date, profile.birth_date, today) {
        Stage::Unknown => home.set_stage(0),
        Stage::Pregnant { weeks, days } => {
            home.set_stage(1);
            home.set_gestation(lang.gestational_age(weeks, days).into());
            let progress = (weeks * 7 + days) as f32 / pregnancy::TERM_DAYS as f32;
            home.set_progress(progress);
        }
        Stage::Postnatal { days } => {
            home.set_stage(2);
            home.set_postnatal_days(days as i32);
        }
    }
    if let Some(due) = profile.due_date {
        home.set_days_to_due(pregnancy::days_to_due(due, today) as i32);
        home.set_due_date(lang.long_date(due).into());
    }

    match store.latest_readings(1) {
        Ok(latest) => match latest.first() {
            Some(r) => {
                let d = &r.data;
                home.set_has_latest(true);
                home.set_latest_values(format::bp(d.systolic, d.diastolic).into());
                home.set_latest_pulse(d.pulse.map(crate::i18n::number).unwrap_or_default().into());
                let day = d.measured_at.date_naive();
                let when = if day == today {
                    lang.time(d.measured_at.time())
                } else {
                    format!("{} {}", lang.date_with_weekday(day), lang.time(d.measured_at.time()))
                };
                home.set_latest_when(when.into());
                home.set_latest_tier(r.tier.index());
                home.set_latest_confirmed(r.tier_confirmed);
            }
            None => home.set_has_latest(false),
        },
        Err(e) => ctx.report("reading blood pressure", &e),
    }

    let averages = &ctx.config.blood_pressure.averages;
    home.set_average_days(averages.days as i32);
    home.set_average_min_days(averages.min_days as i32);
    let (morning, evening) = super::trends::averages(ctx, &store, today);
    home.set_has_morning(morning.is_some());
    home.set_has_evening(evening.is_some());
    if let Some(m) = morning {
        home.set_morning_values(format::bp(m.systolic.round(), m.diastolic.round()).into());
        home.set_morning_days(m.days as i32);
    }
    if let Some(e) = evening {
        home.set_evening_values(format::bp(e.systolic.round(), e.diastolic.round()).into());
        home.set_evening_days(e.days as i32);
    }

    match store.checkups() {
        Ok(list) => match list.last() {
            Some(c) => {
                home.set_has_checkup(true);
                let mut date = lang.long_date(c.data.date);
                if let Some((w, d)) =
                    profile.due_date.and_then(|due| pregnancy::gestational_age(due, c.data.date))
                {
                    date = format!("{date} ({})", lang.gestational_age(w, d));
                }
                home.set_checkup_date(date.into());
                let d = &c.data;
                home.set_checkup_facility(d.facility.as_str().into());
                home.set_checkup_weight(
                    d.weight_kg.map(crate::i18n::number).unwrap_or_default().into(),
                );
                home.set_checkup_bp(match (d.systolic, d.diastolic) {
                    (Some(s), Some(dia)) => format::bp(s, dia).into(),
                    _ => Default::default(),
                });
                home.set_checkup_protein(d.urine_protein.symbol().into());
            }
            None => home.set_has_checkup(false),
        },
        Err(e) => ctx.report("reading check-ups", &e),
    }
}
