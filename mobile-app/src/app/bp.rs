//! Blood pressure: typed entry, and the result page that says what a reading means.

use std::rc::Rc;

use chrono::Timelike;
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::Ctx;
use super::format::{self, NumberError};
use crate::clinical::bp::{self, Assessment, BpValues, Confirmation, Implausible, Prior};
use crate::model::{Arm, NewReading, Reading, Session, Source, Symptoms};
use crate::{AppWindow, BpEntryAdapter, BpResultAdapter, Page};

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let entry = ui.global::<BpEntryAdapter>();
    let c = ctx.clone();
    entry.on_save(move || save(&c));

    let result = ui.global::<BpResultAdapter>();
    let c = ctx.clone();
    result.on_measure_again(move || {
        // Keep the time of day and the arm; clear the numbers.
        c.entry_fresh.set(false);
        c.navigate(Page::BpEntry);
    });
    let c = ctx.clone();
    result.on_done(move || c.navigate(Page::Home));

    let p = ctx.config.blood_pressure.plausible;
    let range = |r: [f64; 2]| ModelRc::new(VecModel::from(vec![r[0] as i32, r[1] as i32]));
    result.set_systolic_range(range(p.systolic));
    result.set_diastolic_range(range(p.diastolic));
    result.set_pulse_range(range(p.pulse));
}

/// Prepares the entry form.
pub(super) fn enter_entry(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let entry = ui.global::<BpEntryAdapter>();
    let now = ctx.clock.now();
    entry.set_systolic(SharedString::new());
    entry.set_diastolic(SharedString::new());
    entry.set_pulse(SharedString::new());
    entry.set_input_error(0);
    entry.set_error_field(SharedString::new());
    if ctx.entry_fresh.get() {
        entry.set_session(session_index(Session::from_local_hour(now.hour())));
        entry.set_headache(false);
        entry.set_visual_disturbance(false);
        entry.set_epigastric_pain(false);
        entry.set_breathlessness(false);
        entry.set_seizure(false);
        entry.set_note(SharedString::new());
    }
    refresh_labels(ctx);
}

pub(super) fn refresh_labels(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let lang = ctx.language.get();
    let now = ctx.clock.now();
    let when = format!("{} {}", lang.date_with_weekday(now.date_naive()), lang.time(now.time()));
    ui.global::<BpEntryAdapter>().set_when(when.into());
}

fn session_index(s: Session) -> i32 {
    match s {
        Session::Morning => 0,
        Session::Evening => 1,
        Session::Other => 2,
    }
}

fn session_from_index(i: i32) -> Session {
    match i {
        0 => Session::Morning,
        1 => Session::Evening,
        _ => Session::Other,
    }
}

fn save(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let entry = ui.global::<BpEntryAdapter>();
    let fail = |field: &str, error: NumberError| {
        entry.set_error_field(field.into());
        entry.set_input_error(match error {
            NumberError::Missing => 1,
            NumberError::NotANumber => 2,
        });
    };
    let required = |text: SharedString, field: &str| match format::parse_whole(&text) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err((field.to_string(), NumberError::Missing)),
        Err(e) => Err((field.to_string(), e)),
    };
    let values = (|| {
        let systolic = required(entry.get_systolic(), "systolic")?;
        let diastolic = required(entry.get_diastolic(), "diastolic")?;
        let pulse =
            format::parse_whole(&entry.get_pulse()).map_err(|e| ("pulse".to_string(), e))?;
        Ok::<_, (String, NumberError)>(BpValues { systolic, diastolic, pulse })
    })();
    let values = match values {
        Ok(v) => v,
        Err((field, e)) => return fail(&field, e),
    };
    entry.set_input_error(0);
    entry.set_error_field(SharedString::new());

    let symptoms = Symptoms::none()
        .with(Symptoms::HEADACHE, entry.get_headache())
        .with(Symptoms::VISUAL_DISTURBANCE, entry.get_visual_disturbance())
        .with(Symptoms::EPIGASTRIC_PAIN, entry.get_epigastric_pain())
        .with(Symptoms::BREATHLESSNESS, entry.get_breathlessness())
        .with(Symptoms::SEIZURE, entry.get_seizure());
    let now = ctx.clock.now();
    let prior = match ctx.store.borrow().reading_before(now) {
        Ok(p) => p.map(|r| prior_of(&r)),
        Err(e) => return ctx.report("reading blood pressure", &e),
    };
    let assessment = bp::assess(values, symptoms, now, prior, &ctx.config.blood_pressure);

    let plausible =
        matches!(&assessment, Assessment::Assessed { implausible, .. } if implausible.is_empty());
    let mut saved = None;
    if plausible {
        let reading = NewReading {
            measured_at: now,
            systolic: values.systolic,
            diastolic: values.diastolic,
            pulse: values.pulse,
            mean_arterial: None,
            arm: if entry.get_arm() == 1 { Arm::Right } else { Arm::Left },
            session: session_from_index(entry.get_session()),
            symptoms,
            note: entry.get_note().trim().to_string(),
            source: Source::Manual,
        };
        let tier = assessment.tier().unwrap_or_default();
        let stored =
            ctx.store.borrow_mut().insert_reading(&reading, tier, assessment.is_confirmed(), now);
        match stored {
            Ok(r) => saved = Some(r),
            Err(e) => return ctx.report("saving the reading", &e),
        }
    }
    ctx.entry_fresh.set(saved.is_some());
    show_result(ctx, &assessment, values, now, saved.is_some(), None, &[]);
    ctx.navigate(Page::BpResult);
}

pub(super) fn prior_of(r: &Reading) -> Prior {
    Prior {
        measured_at: r.data.measured_at,
        values: BpValues {
            systolic: r.data.systolic,
            diastolic: r.data.diastolic,
            pulse: r.data.pulse,
        },
    }
}

/// Fills the result page. `cuff` names the cuff for imported readings.
pub(super) fn show_result(
    ctx: &Rc<Ctx>,
    assessment: &Assessment,
    values: BpValues,
    at: chrono::DateTime<chrono::FixedOffset>,
    saved: bool,
    cuff: Option<&str>,
    cuff_problems: &[crate::ble::import::CuffProblem],
) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let lang = ctx.language.get();
    let result = ui.global::<BpResultAdapter>();
    result.set_values(format::bp(values.systolic, values.diastolic).into());
    result.set_pulse(values.pulse.map(crate::i18n::number).unwrap_or_default().into());
    result.set_when(
        format!("{} {}", lang.date_with_weekday(at.date_naive()), lang.time(at.time())).into(),
    );
    result.set_saved(saved);
    result.set_cuff_name(cuff.unwrap_or_default().into());
    let problems: Vec<i32> = cuff_problems.iter().map(|p| p.index()).collect();
    result.set_cuff_problems(ModelRc::new(VecModel::from(problems)));
    match assessment {
        Assessment::Remeasure(problems) => {
            result.set_kind(0);
            let codes: Vec<i32> = problems
                .iter()
                .map(|p| match p {
                    Implausible::SystolicOutOfRange => 0,
                    Implausible::DiastolicOutOfRange => 1,
                    Implausible::PulseOutOfRange => 2,
                    Implausible::PulsePressureTooNarrow => 3,
                })
                .collect();
            result.set_problems(ModelRc::new(VecModel::from(codes)));
            result.set_has_symptoms(false);
        }
        Assessment::Assessed { tier, confirmation, symptoms, .. } => {
            result.set_kind(1);
            result.set_tier(tier.index());
            let (code, rest) = match confirmation {
                Confirmation::NotNeeded => (0, 0),
                Confirmation::AwaitingRepeat { rest_minutes } => (1, *rest_minutes as i32),
                Confirmation::Confirmed => (2, 0),
            };
            result.set_confirmation(code);
            result.set_rest_minutes(rest);
            result.set_has_symptoms(symptoms.any());
            let present: Vec<i32> = Symptoms::ALL
                .iter()
                .enumerate()
                .filter(|(_, s)| symptoms.contains(**s))
                .map(|(i, _)| i as i32)
                .collect();
            result.set_symptoms(ModelRc::new(VecModel::from(present)));
        }
    }
}
