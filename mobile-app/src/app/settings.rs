//! Settings: her profile, language, her clinic, export and deletion of all her data.

use std::rc::Rc;

use slint::{ComponentHandle, SharedString};

use super::{Ctx, format};
use crate::export::{self, Snapshot};
use crate::model::Profile;
use crate::{AppWindow, Page, SettingsAdapter};

/// Settings key of the id her FHIR Patient resource gets, stable across exports.
const PATIENT_ID_SETTING: &str = "fhir_patient_id";

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let s = ui.global::<SettingsAdapter>();
    s.set_version(env!("CARGO_PKG_VERSION").into());
    let c = ctx.clone();
    s.on_save_profile(move || save_profile(&c));
    let c = ctx.clone();
    s.on_export(move || run_export(&c));
    let c = ctx.clone();
    s.on_ask_delete(move || {
        c.with_ui(|ui| ui.global::<SettingsAdapter>().set_confirm_delete(true))
    });
    let c = ctx.clone();
    s.on_cancel_delete(move || {
        c.with_ui(|ui| ui.global::<SettingsAdapter>().set_confirm_delete(false))
    });
    let c = ctx.clone();
    s.on_delete_all(move || delete_all(&c));
}

fn optional(v: Option<f64>) -> SharedString {
    v.map(crate::i18n::number).unwrap_or_default().into()
}

pub(super) fn refresh(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let s = ui.global::<SettingsAdapter>();
    let p = match ctx.store.borrow().profile() {
        Ok(p) => p,
        Err(e) => return ctx.report("reading the profile", &e),
    };
    s.set_display_name(p.display_name.as_str().into());
    s.set_due_date(p.due_date.map(|d| d.to_string()).unwrap_or_default().into());
    s.set_birth_date(p.birth_date.map(|d| d.to_string()).unwrap_or_default().into());
    s.set_height(optional(p.height_cm));
    s.set_weight(optional(p.pre_pregnancy_weight_kg));
    s.set_error(0);
    s.set_error_field(SharedString::new());
    s.set_profile_saved(false);
    s.set_confirm_delete(false);
}

fn read_profile(s: &SettingsAdapter<'_>) -> Result<Profile, (&'static str, i32)> {
    let date = |text: SharedString, field| format::parse_date(&text).map_err(|()| (field, 1));
    let measure = |text: SharedString, field, range: [f64; 2]| match format::parse_decimal(&text) {
        Ok(None) => Ok(None),
        Ok(Some(v)) if v >= range[0] && v <= range[1] => Ok(Some(v)),
        Ok(Some(_)) => Err((field, 3)),
        Err(_) => Err((field, 2)),
    };
    Ok(Profile {
        display_name: s.get_display_name().trim().to_string(),
        due_date: date(s.get_due_date(), "due-date")?,
        birth_date: date(s.get_birth_date(), "birth-date")?,
        height_cm: measure(s.get_height(), "height", [100.0, 230.0])?,
        pre_pregnancy_weight_kg: measure(s.get_weight(), "weight", [25.0, 250.0])?,
    })
}

fn save_profile(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let s = ui.global::<SettingsAdapter>();
    let profile = match read_profile(&s) {
        Ok(p) => p,
        Err((field, code)) => {
            s.set_error_field(field.into());
            s.set_error(code);
            return;
        }
    };
    // A due date more than 44 weeks away or long past is a typing slip.
    if let Some(due) = profile.due_date {
        let days = crate::clinical::pregnancy::days_to_due(due, ctx.today());
        if !(-400..=300).contains(&days) {
            s.set_error_field("due-date".into());
            s.set_error(3);
            return;
        }
    }
    s.set_error(0);
    s.set_error_field(SharedString::new());
    if let Err(e) = ctx.store.borrow_mut().save_profile(&profile, ctx.clock.now()) {
        return ctx.report("saving the profile", &e);
    }
    s.set_profile_saved(true);
}

/// Writes both exports to the export directory; returns the files written.
pub(crate) fn write_exports(ctx: &Ctx) -> Result<Vec<std::path::PathBuf>, String> {
    let dir = ctx.export_dir.as_ref().ok_or("no storage for exports in demonstration mode")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let now = ctx.clock.now();
    let mut store = ctx.store.borrow_mut();
    let patient_id = match store.setting(PATIENT_ID_SETTING).map_err(|e| e.to_string())? {
        Some(id) => uuid::Uuid::parse_str(&id).map_err(|e| e.to_string())?,
        None => {
            let id = crate::model::new_id();
            store.set_setting(PATIENT_ID_SETTING, &id.to_string()).map_err(|e| e.to_string())?;
            id
        }
    };
    let snapshot = Snapshot::read(&store).map_err(|e| e.to_string())?;
    let stamp = now.format("%Y%m%d-%H%M%S");
    let json_path = dir.join(format!("phr-{stamp}.json"));
    let fhir_path = dir.join(format!("phr-{stamp}.fhir.json"));
    for (path, value) in [
        (&json_path, export::to_json(&snapshot, now)),
        (&fhir_path, export::to_fhir(&snapshot, now, patient_id)),
    ] {
        let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(vec![json_path, fhir_path])
}

fn run_export(ctx: &Rc<Ctx>) {
    let message = match write_exports(ctx) {
        Ok(paths) => paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n"),
        Err(e) => {
            tracing::error!("export: {e}");
            e
        }
    };
    ctx.with_ui(|ui| ui.global::<SettingsAdapter>().set_export_result(message.into()));
}

fn delete_all(ctx: &Rc<Ctx>) {
    if let Err(e) = ctx.store.borrow_mut().delete_everything() {
        return ctx.report("deleting", &e);
    }
    // Exports the app wrote are her data too.
    if let Some(dir) = &ctx.export_dir
        && dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::error!("removing exports {}: {e}", dir.display());
    }
    ctx.with_ui(|ui| ui.global::<SettingsAdapter>().set_export_result(SharedString::new()));
    ctx.navigate(Page::Home);
}
