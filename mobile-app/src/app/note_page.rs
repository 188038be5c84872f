//! Her notes page: the list, a typed note, and dictation (record → draft on a worker thread →
//! she edits and confirms → saved, which queues it for sync). The recording is dropped as soon
//! as the draft is made (or fails); the draft lives only in memory until she saves it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use phr_wire::records::{NoteOrigin, SoapText};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{Ctx, settings};
use crate::i18n::Language;
use crate::notes::{
    Draft, DraftError, Drafter, RecordError, Recorder, SaveError, checked_note, save_note,
    typed_note,
};
use crate::store::{Store, StoredNote};
use crate::sync::SyncEngine;
use crate::{AppWindow, NoteRow, NotesAdapter};

const LIST: i32 = 0;
const WRITING: i32 = 1;
const RECORDING: i32 = 2;
const DRAFTING: i32 = 3;
const CHECKING: i32 = 4;

/// The notes page's state on the UI thread.
pub(crate) struct NotesPanel {
    pub recorder: RefCell<Box<dyn Recorder>>,
    pub drafter: RefCell<Arc<Drafter>>,
    draft: RefCell<Option<Draft>>,
    /// Bumped when she cancels, so a draft that arrives afterwards is dropped.
    generation: Cell<u64>,
}

impl NotesPanel {
    pub fn new(drafter: Drafter) -> Self {
        Self {
            recorder: RefCell::new(default_recorder()),
            drafter: RefCell::new(Arc::new(drafter)),
            draft: RefCell::new(None),
            generation: Cell::new(0),
        }
    }
}

#[cfg(feature = "microphone")]
fn default_recorder() -> Box<dyn Recorder> {
    Box::new(crate::notes::Microphone::new())
}

#[cfg(not(feature = "microphone"))]
fn default_recorder() -> Box<dyn Recorder> {
    Box::new(crate::notes::NoMicrophone)
}

/// The drafter `[speech]` asks for; a model that cannot be loaded is logged and the server
/// drafts instead (she can still dictate when connected).
pub(super) fn drafter_from_config(config: &crate::config::AppConfig) -> Drafter {
    Drafter::from_config(&config.speech).unwrap_or_else(|e| {
        tracing::error!("{e}; dictation falls back to the clinic's server");
        Drafter::server_only()
    })
}

pub(super) fn install(ctx: &Rc<Ctx>, ui: &AppWindow) {
    let a = ui.global::<NotesAdapter>();
    let c = ctx.clone();
    a.on_write(move || {
        c.with_ui(|ui| {
            let a = ui.global::<NotesAdapter>();
            a.set_typed(SharedString::new());
            a.set_message(SharedString::new());
            a.set_mode(WRITING);
        })
    });
    let c = ctx.clone();
    a.on_save_typed(move || save_typed(&c));
    let c = ctx.clone();
    a.on_dictate(move || start_recording(&c));
    let c = ctx.clone();
    a.on_stop_recording(move || stop_recording(&c));
    let c = ctx.clone();
    a.on_save_draft(move || save_draft(&c));
    let c = ctx.clone();
    a.on_cancel(move || cancel(&c));
}

fn lang(ctx: &Ctx) -> &'static str {
    ctx.language.get().code()
}

fn say(ctx: &Ctx, ja: &str, en: &str) -> SharedString {
    match ctx.language.get() {
        Language::Japanese => ja.into(),
        Language::English => en.into(),
    }
}

fn set_message(ctx: &Ctx, message: SharedString) {
    ctx.with_ui(|ui| ui.global::<NotesAdapter>().set_message(message));
}

fn origin_index(o: NoteOrigin) -> i32 {
    match o {
        NoteOrigin::Typed => 0,
        NoteOrigin::DictatedOnPhone => 1,
        NoteOrigin::DictatedOnServer => 2,
    }
}

fn soap_lines(soap: &SoapText) -> String {
    [("S", &soap.subjective), ("O", &soap.objective), ("A", &soap.assessment), ("P", &soap.plan)]
        .iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(k, t)| format!("{k}: {}", t.replace('\n', " / ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn row(ctx: &Ctx, n: &StoredNote) -> NoteRow {
    let language = ctx.language.get();
    let at = n.note.written_at;
    NoteRow {
        id: n.id.to_string().into(),
        when: format!("{} {}", language.short_date(at.date_naive()), language.time(at.time()))
            .into(),
        origin: origin_index(n.note.origin),
        checked: n.note.checked_by_her,
        text: n.note.text.as_str().into(),
        soap: n.note.soap.as_ref().map(soap_lines).unwrap_or_default().into(),
    }
}

/// Re-reads her notes into the list.
pub(super) fn refresh(ctx: &Rc<Ctx>) {
    let notes = match ctx.store.borrow().notes() {
        Ok(n) => n,
        Err(e) => return ctx.report("reading notes", &e),
    };
    let rows: Vec<NoteRow> = notes.iter().map(|n| row(ctx, n)).collect();
    ctx.with_ui(|ui| {
        ui.global::<NotesAdapter>().set_rows(ModelRc::new(VecModel::from(rows)));
    });
}

/// Entering the page shows the list (a draft left behind by going back is gone).
pub(super) fn enter(ctx: &Rc<Ctx>) {
    cancel(ctx);
    refresh(ctx);
}

fn cancel(ctx: &Rc<Ctx>) {
    ctx.notes.generation.set(ctx.notes.generation.get() + 1);
    // Stop a recording she walked away from; what it captured is dropped.
    let recording = ctx.with_ui_value(|ui| ui.global::<NotesAdapter>().get_mode() == RECORDING);
    if recording == Some(true) {
        drop(ctx.notes.recorder.borrow_mut().stop());
    }
    ctx.notes.draft.borrow_mut().take();
    ctx.with_ui(|ui| {
        let a = ui.global::<NotesAdapter>();
        a.set_mode(LIST);
        a.set_message(SharedString::new());
        a.set_confirmed(false);
        for set in [
            NotesAdapter::set_typed,
            NotesAdapter::set_subjective,
            NotesAdapter::set_objective,
            NotesAdapter::set_assessment,
            NotesAdapter::set_plan,
        ] {
            set(&a, SharedString::new());
        }
    });
}

fn save_failed(ctx: &Ctx, e: &SaveError) -> SharedString {
    match e {
        SaveError::Invalid(v) => match ctx.language.get() {
            Language::Japanese => format!("保存できませんでした: {v}").into(),
            Language::English => format!("Not saved: {v}").into(),
        },
        SaveError::Store(s) => {
            ctx.report("saving a note", s);
            SharedString::new()
        }
    }
}

fn saved(ctx: &Rc<Ctx>) {
    cancel(ctx);
    refresh(ctx);
    ctx.toast(say(ctx, "保存しました", "Saved"));
}

fn save_typed(ctx: &Rc<Ctx>) {
    let Some(text) = ctx.with_ui_value(|ui| ui.global::<NotesAdapter>().get_typed()) else {
        return;
    };
    let now = ctx.clock.now();
    let note = typed_note(&text, lang(ctx), now);
    let result = save_note(&mut ctx.store.borrow_mut(), &note, now);
    match result {
        Ok(_) => saved(ctx),
        Err(e) => set_message(ctx, save_failed(ctx, &e)),
    }
}

fn start_recording(ctx: &Rc<Ctx>) {
    let result = ctx.notes.recorder.borrow_mut().start();
    match result {
        Ok(()) => ctx.with_ui(|ui| {
            let a = ui.global::<NotesAdapter>();
            a.set_message(SharedString::new());
            a.set_mode(RECORDING);
        }),
        Err(e) => set_message(ctx, record_failed(ctx, &e)),
    }
}

fn record_failed(ctx: &Ctx, e: &RecordError) -> SharedString {
    tracing::warn!("dictation: {e}");
    match e {
        RecordError::Unavailable(_) => say(
            ctx,
            "この端末ではマイクが使えません。「メモを書く」から入力してください。",
            "No microphone can be used on this device. Please use \"Write a note\".",
        ),
        other => match ctx.language.get() {
            Language::Japanese => format!("記録できませんでした: {other}").into(),
            Language::English => format!("Recording failed: {other}").into(),
        },
    }
}

fn draft_failed(ctx: &Ctx, e: &DraftError) -> SharedString {
    tracing::warn!("dictation: {e}");
    match e {
        DraftError::NoSpeech | DraftError::ServerHasNoModel => say(
            ctx,
            "話した内容からメモにできません。「メモを書く」から入力してください。",
            "Your voice cannot be turned into a note here. Please use \"Write a note\".",
        ),
        DraftError::Offline(_) => say(
            ctx,
            "病院のサーバーにつながりません。あとでもう一度試すか、入力してください。",
            "The clinic's server cannot be reached. Try again later, or type the note.",
        ),
        DraftError::LoginRequired => say(
            ctx,
            "病院へのログインが必要です。設定からログインするか、入力してください。",
            "Please log in to your clinic again in Settings, or type the note.",
        ),
        other => match ctx.language.get() {
            Language::Japanese => format!("下書きにできませんでした: {other}").into(),
            Language::English => format!("No draft could be made: {other}").into(),
        },
    }
}

fn stop_recording(ctx: &Rc<Ctx>) {
    let wav = match ctx.notes.recorder.borrow_mut().stop() {
        Ok(w) => w,
        Err(e) => {
            let message = record_failed(ctx, &e);
            ctx.with_ui(|ui| {
                let a = ui.global::<NotesAdapter>();
                a.set_mode(LIST);
                a.set_message(message);
            });
            return;
        }
    };
    ctx.with_ui(|ui| ui.global::<NotesAdapter>().set_mode(DRAFTING));
    let drafter = ctx.notes.drafter.borrow().clone();
    // The server drafts only for a phone connected to a clinic (her data on disk, sync set up).
    let server = (!drafter.has_model())
        .then(|| settings::sync_db(ctx).map(|db| (db, settings::transport(ctx))))
        .flatten();
    let config = ctx.config.clone();
    let lang = lang(ctx).to_string();
    let generation = ctx.notes.generation.get();
    let app = ctx.id;
    std::thread::spawn(move || {
        let result = match server {
            None => drafter.draft(&wav, &lang, None),
            Some((db, transport)) => match Store::open(&db) {
                Ok(mut store) => {
                    let engine = SyncEngine::new(transport.as_ref(), &config);
                    drafter.draft(&wav, &lang, Some((&engine, &mut store)))
                }
                Err(e) => Err(DraftError::Failed(e.to_string())),
            },
        };
        // Her voice is not kept: the recording goes as soon as the draft is made.
        drop(wav);
        let delivered = slint::invoke_from_event_loop(move || {
            super::with_ctx(app, |ctx| drafted(ctx, generation, result));
        });
        if let Err(e) = delivered {
            tracing::warn!("draft dropped: {e}");
        }
    });
}

fn drafted(ctx: &Rc<Ctx>, generation: u64, result: Result<Draft, DraftError>) {
    if generation != ctx.notes.generation.get() {
        return; // She cancelled meanwhile.
    }
    match result {
        Ok(draft) => {
            ctx.with_ui(|ui| {
                let a = ui.global::<NotesAdapter>();
                a.set_transcript(draft.transcript.as_str().into());
                a.set_draft_origin(origin_index(draft.origin));
                a.set_subjective(draft.soap.subjective.as_str().into());
                a.set_objective(draft.soap.objective.as_str().into());
                a.set_assessment(draft.soap.assessment.as_str().into());
                a.set_plan(draft.soap.plan.as_str().into());
                a.set_confirmed(false);
                a.set_message(SharedString::new());
                a.set_mode(CHECKING);
            });
            *ctx.notes.draft.borrow_mut() = Some(draft);
        }
        Err(e) => {
            let message = draft_failed(ctx, &e);
            ctx.with_ui(|ui| {
                let a = ui.global::<NotesAdapter>();
                a.set_mode(LIST);
                a.set_message(message);
            });
        }
    }
}

fn save_draft(ctx: &Rc<Ctx>) {
    let Some(draft) = ctx.notes.draft.borrow().clone() else { return };
    let Some((confirmed, soap)) = ctx.with_ui_value(|ui| {
        let a = ui.global::<NotesAdapter>();
        let soap = SoapText {
            subjective: a.get_subjective().into(),
            objective: a.get_objective().into(),
            assessment: a.get_assessment().into(),
            plan: a.get_plan().into(),
        };
        (a.get_confirmed(), soap)
    }) else {
        return;
    };
    if !confirmed {
        // The button is disabled until she ticks it; a draft is never saved unchecked.
        return;
    }
    let now = ctx.clock.now();
    let note = checked_note(&draft, soap, now);
    let result = save_note(&mut ctx.store.borrow_mut(), &note, now);
    match result {
        Ok(_) => saved(ctx),
        Err(e) => set_message(ctx, save_failed(ctx, &e)),
    }
}
