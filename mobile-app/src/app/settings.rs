//! Settings: her profile, language, her clinic, export and deletion of all her data, and sync
//! with the clinic (account, "sync now", consent per clinic). Sync runs on a worker thread with
//! its own connection to her database; the result comes back to the UI thread.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use phr_wire::auth::{AccountError, LoginRequest, RegisterRequest};
use phr_wire::consent::{Clinic, Consent, ConsentGrant, Scope};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{Ctx, format};
use crate::export::{self, Snapshot};
use crate::i18n::Language;
use crate::model::Profile;
use crate::store::{DB_FILE, Store};
use crate::sync::{
    HttpTransport, SyncEngine, SyncError, SyncStatus, SyncTransport, TransportError,
};
use crate::{AppWindow, ClinicConsent, HomeAdapter, Page, SettingsAdapter};

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
    install_sync(ctx, &s);
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
    render_sync(ctx);
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

// ---- Sync with the clinic ----------------------------------------------------------------------

/// The sync panel's state on the UI thread.
#[derive(Default)]
pub(crate) struct SyncPanel {
    /// A transport set by the platform or a test; otherwise HTTPS to `[sync] server_url`.
    pub transport: RefCell<Option<Arc<dyn SyncTransport>>>,
    busy: Cell<bool>,
    message: RefCell<String>,
    clinics: RefCell<Vec<ClinicConsent>>,
}

/// What she asked the worker to do.
enum SyncAction {
    Sync,
    Register(RegisterRequest),
    Login(LoginRequest),
    Grant(String, Vec<Scope>),
    Revoke(String),
}

/// What the worker reports back (plain data: it crosses threads).
struct SyncOutcome {
    /// What to tell her when the action failed (the status line covers offline and log-in).
    error: Option<String>,
    /// The clinics with her current consent to each, when she is signed in.
    clinics: Option<Vec<(Clinic, Option<Consent>)>>,
}

pub(super) fn sync_db(ctx: &Ctx) -> Option<PathBuf> {
    let available = ctx.sync.transport.borrow().is_some() || ctx.config.sync.enabled();
    ctx.data_dir.as_ref().filter(|_| available).map(|d| d.join(DB_FILE))
}

pub(super) fn transport(ctx: &Ctx) -> Arc<dyn SyncTransport> {
    if let Some(t) = ctx.sync.transport.borrow().as_ref() {
        return t.clone();
    }
    Arc::new(HttpTransport::new(
        &ctx.config.sync.server_url,
        Duration::from_secs(ctx.config.sync.timeout_s),
    ))
}

fn install_sync(ctx: &Rc<Ctx>, s: &SettingsAdapter<'_>) {
    let c = ctx.clone();
    s.on_sync_now(move || start_sync(&c, SyncAction::Sync));
    let c = ctx.clone();
    s.on_connect(move || {
        let s = c.ui.upgrade();
        let Some(ui) = s else { return };
        let a = ui.global::<SettingsAdapter>();
        let display_name = c.store.borrow().profile().map(|p| p.display_name).unwrap_or_default();
        let req = RegisterRequest {
            invitation_code: a.get_invitation_code().trim().to_string(),
            login: a.get_login_name().trim().to_string(),
            password: a.get_password().to_string(),
            // The clinic needs a name to address her by; her login stands in until she sets one.
            display_name: if display_name.trim().is_empty() {
                a.get_login_name().trim().to_string()
            } else {
                display_name
            },
            device_name: device_name(),
        };
        start_sync(&c, SyncAction::Register(req));
    });
    let c = ctx.clone();
    s.on_log_in(move || {
        let Some(ui) = c.ui.upgrade() else { return };
        let a = ui.global::<SettingsAdapter>();
        let req = LoginRequest {
            login: a.get_login_name().trim().to_string(),
            password: a.get_password().to_string(),
            device_name: device_name(),
        };
        start_sync(&c, SyncAction::Login(req));
    });
    let c = ctx.clone();
    s.on_set_scope(move |index, scope, on| {
        if let Some(row) = c.sync.clinics.borrow_mut().get_mut(index as usize) {
            match scope {
                0 => row.blood_pressure = on,
                1 => row.checkups = on,
                _ => row.epds = on,
            }
        }
    });
    let c = ctx.clone();
    s.on_share(move |index| {
        let Some(row) = c.sync.clinics.borrow().get(index as usize).cloned() else { return };
        let scope: Vec<Scope> = [
            (row.blood_pressure, Scope::BloodPressure),
            (row.checkups, Scope::Checkups),
            (row.epds, Scope::Epds),
        ]
        .into_iter()
        .filter_map(|(on, s)| on.then_some(s))
        .collect();
        if scope.is_empty() {
            let text = match c.language.get() {
                Language::Japanese => "共有する項目を1つ以上選んでください。",
                Language::English => "Tick at least one part of your record to share.",
            };
            *c.sync.message.borrow_mut() = text.to_string();
            return render_sync(&c);
        }
        start_sync(&c, SyncAction::Grant(row.id.to_string(), scope));
    });
    let c = ctx.clone();
    s.on_stop_sharing(move |index| {
        let Some(row) = c.sync.clinics.borrow().get(index as usize).cloned() else { return };
        start_sync(&c, SyncAction::Revoke(row.id.to_string()));
    });
}

fn device_name() -> String {
    format!("mobile-app ({})", std::env::consts::OS)
}

/// Syncs in the background when the app starts, if she has an account: what she recorded
/// offline goes as soon as the app is opened with a network.
pub(super) fn sync_on_start(ctx: &Rc<Ctx>) {
    let signed_in = ctx.store.borrow().sync_state().is_ok_and(|s| s.signed_in());
    if signed_in && sync_db(ctx).is_some() {
        start_sync(ctx, SyncAction::Sync);
    }
}

fn start_sync(ctx: &Rc<Ctx>, action: SyncAction) {
    if ctx.sync.busy.get() {
        return;
    }
    let Some(db) = sync_db(ctx) else { return };
    let transport = transport(ctx);
    let config = ctx.config.clone();
    let now = ctx.clock.now();
    let language = ctx.language.get();
    let app = ctx.id;
    ctx.sync.busy.set(true);
    ctx.sync.message.borrow_mut().clear();
    render_sync(ctx);
    std::thread::spawn(move || {
        let outcome = run_sync(&db, transport.as_ref(), &config, now, action, language);
        let delivered = slint::invoke_from_event_loop(move || {
            super::with_ctx(app, |ctx| sync_finished(ctx, outcome));
        });
        if let Err(e) = delivered {
            tracing::warn!("sync result dropped: {e}");
        }
    });
}

/// Runs on the worker thread with its own connection to her database.
fn run_sync(
    db: &std::path::Path,
    transport: &dyn SyncTransport,
    config: &crate::config::AppConfig,
    now: chrono::DateTime<chrono::FixedOffset>,
    action: SyncAction,
    language: Language,
) -> SyncOutcome {
    let mut store = match Store::open(db) {
        Ok(s) => s,
        Err(e) => return SyncOutcome { error: Some(e.to_string()), clinics: None },
    };
    let engine = SyncEngine::new(transport, config);
    let result = match action {
        SyncAction::Sync => engine.sync(&mut store, now).map(drop),
        SyncAction::Register(req) => {
            engine.register(&mut store, &req).and_then(|_| engine.sync(&mut store, now).map(drop))
        }
        SyncAction::Login(req) => {
            engine.login(&mut store, &req).and_then(|_| engine.sync(&mut store, now).map(drop))
        }
        SyncAction::Grant(clinic, scope) => {
            engine.grant(&mut store, &clinic, &ConsentGrant { scope }).map(drop)
        }
        SyncAction::Revoke(clinic) => engine.revoke(&mut store, &clinic).map(drop),
    };
    let error = result.err().and_then(|e| explain(&e, language));
    let signed_in = store.sync_state().is_ok_and(|s| s.signed_in());
    let clinics = signed_in
        .then(|| {
            let clinics = engine.clinics(&mut store).ok()?;
            let consents = engine.consents(&mut store).ok()?;
            Some(
                clinics
                    .into_iter()
                    .map(|clinic| {
                        // Newest first: the first open consent to this clinic is the current one.
                        let current = consents
                            .iter()
                            .find(|c| c.clinic.id == clinic.id && c.revoked_at.is_none())
                            .cloned();
                        (clinic, current)
                    })
                    .collect(),
            )
        })
        .flatten();
    SyncOutcome { error, clinics }
}

/// What to tell her about a failure; `None` when the status line already says it.
fn explain(e: &SyncError, language: Language) -> Option<String> {
    let ja = language == Language::Japanese;
    let text = match e {
        SyncError::Offline(_) | SyncError::NotSignedIn => return None,
        SyncError::LoginRequired => {
            if ja {
                "ログイン名かパスワードが違うか、ログインの有効期限が切れました。"
            } else {
                "Wrong login or password, or your login has expired."
            }
        }
        SyncError::Account(AccountError::Login) => {
            if ja {
                "ログイン名は空白なしの3〜128文字にしてください。"
            } else {
                "The login must be 3–128 characters without spaces."
            }
        }
        SyncError::Account(AccountError::Password) => {
            if ja {
                "パスワードは10文字以上にしてください。"
            } else {
                "The password must be at least 10 characters."
            }
        }
        SyncError::Account(_) => {
            if ja {
                "名前を確認してください。"
            } else {
                "Please check your name."
            }
        }
        SyncError::Refused(TransportError::Status { status: 404, .. }) => {
            if ja {
                "招待コードが見つからないか、使用済みか期限切れです。"
            } else {
                "The invitation code is unknown, used or expired."
            }
        }
        SyncError::Refused(TransportError::Status { status: 409, .. }) => {
            if ja {
                "そのログイン名は使われています。"
            } else {
                "That login is taken."
            }
        }
        other => {
            tracing::error!("sync: {other}");
            return Some(if ja {
                format!("同期できませんでした: {other}")
            } else {
                format!("Sync failed: {other}")
            });
        }
    };
    Some(text.to_string())
}

fn sync_finished(ctx: &Rc<Ctx>, outcome: SyncOutcome) {
    ctx.sync.busy.set(false);
    *ctx.sync.message.borrow_mut() = outcome.error.unwrap_or_default();
    if let Some(clinics) = outcome.clinics {
        let language = ctx.language.get();
        let offset = *ctx.clock.now().offset();
        *ctx.sync.clinics.borrow_mut() = clinics
            .into_iter()
            .map(|(clinic, consent)| {
                let has = |s: Scope| consent.as_ref().is_some_and(|c| c.scope.contains(&s));
                ClinicConsent {
                    id: clinic.id.as_str().into(),
                    name: clinic.name.as_str().into(),
                    active: consent.is_some(),
                    since: consent
                        .as_ref()
                        .map(|c| {
                            language.long_date(c.granted_at.with_timezone(&offset).date_naive())
                        })
                        .unwrap_or_default()
                        .into(),
                    // Nothing is shared until she chooses; blood pressure is ticked to start with,
                    // as it is what the clinic most needs to see.
                    blood_pressure: consent.is_none() || has(Scope::BloodPressure),
                    checkups: has(Scope::Checkups),
                    epds: has(Scope::Epds),
                }
            })
            .collect();
    }
    // Pulled records may change what any page shows.
    ctx.refresh_current();
    render_sync(ctx);
}

/// Pushes the sync state into the settings page.
fn render_sync(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let s = ui.global::<SettingsAdapter>();
    s.set_sync_available(sync_db(ctx).is_some());
    let status = match SyncStatus::read(&ctx.store.borrow()) {
        Ok(st) => st,
        Err(e) => return ctx.report("reading the sync state", &e),
    };
    s.set_sync_state(status.index());
    s.set_sync_line(status.describe(ctx.clock.now(), ctx.language.get()).into());
    s.set_sync_busy(ctx.sync.busy.get());
    s.set_sync_message(ctx.sync.message.borrow().as_str().into());
    if status.index() >= 2 {
        // A password is never kept on screen once it has been used.
        s.set_password(SharedString::new());
    }
    s.set_clinics(ModelRc::new(VecModel::from(ctx.sync.clinics.borrow().clone())));
}

/// Puts the sync line on the home page (empty when sync is not set up).
pub(super) fn render_home_sync(ctx: &Rc<Ctx>) {
    let Some(ui) = ctx.ui.upgrade() else { return };
    let line = match (sync_db(ctx), SyncStatus::read(&ctx.store.borrow())) {
        (Some(_), Ok(status)) => status.describe(ctx.clock.now(), ctx.language.get()),
        (None, _) => String::new(),
        (Some(_), Err(e)) => {
            tracing::error!("reading the sync state: {e}");
            String::new()
        }
    };
    ui.global::<HomeAdapter>().set_sync_line(line.into());
}
