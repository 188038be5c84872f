//! The controllers: Rust code that reads her data, applies the clinical rules and pushes the
//! results into one adapter global per page. The UI calls back through the adapters' callbacks.

mod bp;
mod checkups;
mod cuff;
mod epds;
mod format;
mod home;
mod note_page;
mod settings;
mod trends;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use slint::{ComponentHandle, SharedString};

use crate::ble::LinkFactory;
use crate::ble::import::Received;
use crate::ble::pairing::PairingFlow;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::i18n::{LANGUAGE_SETTING, Language};
use crate::store::{DB_FILE, Store, StoreError};
use crate::trends::TrendRange;
use crate::{AppState, AppWindow, Page};

pub use format::{parse_decimal, parse_whole};

/// Opens the phone's dialler for a number. The platform entry point provides it.
pub type Dialer = Rc<dyn Fn(&str)>;

/// Everything the app needs from its platform.
pub struct AppOptions {
    /// Where her data lives; `None` keeps everything in memory (demonstration mode).
    pub data_dir: Option<PathBuf>,
    pub config: AppConfig,
    pub clock: Arc<dyn Clock>,
    /// Makes Bluetooth links for cuff import.
    pub links: LinkFactory,
    pub dialer: Dialer,
    /// Forces a language (otherwise her saved choice, else Japanese).
    pub language: Option<Language>,
}

impl std::fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOptions")
            .field("data_dir", &self.data_dir)
            .field("clock", &self.clock)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open her data: {0}")]
    Store(#[from] StoreError),
    #[error("cannot create the window: {0}")]
    Ui(#[from] slint::PlatformError),
}

thread_local! {
    /// The apps living on this (the UI) thread, so results from worker threads, which can only
    /// send plain data, find their controllers again.
    static APPS: RefCell<Vec<(u64, std::rc::Weak<Ctx>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_APP_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Runs `f` with app `id`'s controllers, if it still exists. Call on the UI thread.
pub(crate) fn with_ctx(id: u64, f: impl FnOnce(&Rc<Ctx>)) {
    let ctx = APPS.with(|apps| {
        let mut apps = apps.borrow_mut();
        apps.retain(|(_, weak)| weak.strong_count() > 0);
        apps.iter().find(|(i, _)| *i == id).and_then(|(_, weak)| weak.upgrade())
    });
    if let Some(ctx) = ctx {
        f(&ctx);
    }
}

/// Shared state of the controllers. Lives on the UI thread.
pub(crate) struct Ctx {
    pub id: u64,
    pub ui: slint::Weak<AppWindow>,
    pub store: RefCell<Store>,
    pub config: AppConfig,
    pub clock: Arc<dyn Clock>,
    pub links: LinkFactory,
    pub dialer: Dialer,
    pub export_dir: Option<PathBuf>,
    pub language: Cell<Language>,
    history: RefCell<Vec<Page>>,
    pub trends_range: Cell<TrendRange>,
    pub epds_answers: RefCell<[Option<u8>; 10]>,
    pub editing_checkup: Cell<Option<uuid::Uuid>>,
    pub pairing: RefCell<PairingFlow>,
    pub burst: RefCell<(String, Vec<Received>)>,
    pub cancel: RefCell<Arc<AtomicBool>>,
    /// Bumped on every new cuff operation, so results of a cancelled one are dropped.
    pub generation: Cell<u64>,
    /// Reuses the entry form's values on "measure again" (session and arm only).
    pub entry_fresh: Cell<bool>,
    toast_timer: slint::Timer,
    /// Where her data lives (`None` in demonstration mode, which has no sync).
    pub data_dir: Option<PathBuf>,
    pub sync: settings::SyncPanel,
    pub notes: note_page::NotesPanel,
}

impl Ctx {
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.now().date_naive()
    }

    /// Runs `f` with the UI, if the window still exists.
    pub fn with_ui(&self, f: impl FnOnce(&AppWindow)) {
        if let Some(ui) = self.ui.upgrade() {
            f(&ui);
        }
    }

    /// Reads something from the UI, if the window still exists.
    pub fn with_ui_value<R>(&self, f: impl FnOnce(&AppWindow) -> R) -> Option<R> {
        self.ui.upgrade().map(|ui| f(&ui))
    }

    /// Shows a short message that clears itself.
    pub fn toast(&self, text: impl Into<SharedString>) {
        let text = text.into();
        self.with_ui(|ui| ui.global::<AppState>().set_toast(text));
        let ui = self.ui.clone();
        self.toast_timer.start(
            slint::TimerMode::SingleShot,
            std::time::Duration::from_millis(2500),
            move || {
                if let Some(ui) = ui.upgrade() {
                    ui.global::<AppState>().set_toast(SharedString::new());
                }
            },
        );
    }

    /// Reports a storage failure without losing the screen she is on.
    pub fn report(&self, what: &str, e: &StoreError) {
        tracing::error!("{what}: {e}");
        let message = match self.language.get() {
            Language::Japanese => format!("保存できませんでした: {e}"),
            Language::English => format!("Could not save: {e}"),
        };
        self.toast(message);
    }

    pub fn navigate(self: &Rc<Self>, page: Page) {
        let Some(ui) = self.ui.upgrade() else { return };
        let state = ui.global::<AppState>();
        let current = state.get_page();
        if is_tab(page) {
            self.history.borrow_mut().clear();
        } else if current != page {
            self.history.borrow_mut().push(current);
        }
        self.enter(page);
        state.set_page(page);
    }

    pub fn back(self: &Rc<Self>) {
        let previous = self.history.borrow_mut().pop().unwrap_or(Page::Home);
        self.enter(previous);
        self.with_ui(|ui| ui.global::<AppState>().set_page(previous));
    }

    /// Fills a page's adapter before it is shown.
    fn enter(self: &Rc<Self>, page: Page) {
        match page {
            Page::Home => {
                home::refresh(self);
                settings::render_home_sync(self);
            }
            Page::BpEntry => bp::enter_entry(self),
            Page::BpResult => {}
            Page::Trends => trends::refresh(self),
            Page::Checkups => checkups::refresh(self),
            Page::CheckupForm => {}
            Page::Epds => epds::enter(self),
            Page::Cuff => cuff::enter(self),
            Page::Settings => settings::refresh(self),
            Page::Notes => note_page::enter(self),
        }
    }

    /// Refreshes what the current page shows (after a language change or new data).
    pub fn refresh_current(self: &Rc<Self>) {
        let Some(ui) = self.ui.upgrade() else { return };
        match ui.global::<AppState>().get_page() {
            Page::Home => {
                home::refresh(self);
                settings::render_home_sync(self);
            }
            Page::Trends => trends::refresh(self),
            Page::Checkups => checkups::refresh(self),
            Page::Epds => epds::refresh_history(self),
            Page::Cuff => cuff::render(self),
            Page::Settings => settings::refresh(self),
            Page::Notes => note_page::refresh(self),
            Page::CheckupForm => checkups::refresh_form_gestation(self),
            Page::BpEntry | Page::BpResult => bp::refresh_labels(self),
        }
    }

    pub fn set_language(self: &Rc<Self>, language: Language) {
        self.language.set(language);
        if let Err(e) = language.select() {
            tracing::warn!("translation {}: {e:?}", language.code());
        }
        self.with_ui(|ui| ui.global::<AppState>().set_language(language as i32));
        self.refresh_current();
    }
}

fn is_tab(page: Page) -> bool {
    matches!(page, Page::Home | Page::Trends | Page::Checkups | Page::Epds | Page::Settings)
}

/// The app: a window with its controllers.
pub struct App {
    ui: AppWindow,
    ctx: Rc<Ctx>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Opens her data and builds the window on the current Slint platform.
    pub fn new(options: AppOptions) -> Result<Self, AppError> {
        let store = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| AppError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
                Store::open(&dir.join(DB_FILE))?
            }
            None => Store::open_in_memory()?,
        };
        Self::from_store(store, options)
    }

    /// Builds the app over an already opened store (demonstration data, benchmarks).
    pub fn from_store(store: Store, options: AppOptions) -> Result<Self, AppError> {
        let saved_language = store.setting(LANGUAGE_SETTING)?.and_then(|c| Language::from_code(&c));
        let language = options.language.or(saved_language).unwrap_or_default();
        let ui = AppWindow::new()?;
        let drafter = note_page::drafter_from_config(&options.config);
        let ctx = Rc::new(Ctx {
            id: NEXT_APP_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ui: ui.as_weak(),
            store: RefCell::new(store),
            config: options.config,
            clock: options.clock,
            links: options.links,
            dialer: options.dialer,
            export_dir: options.data_dir.as_ref().map(|d| d.join("exports")),
            data_dir: options.data_dir,
            sync: settings::SyncPanel::default(),
            notes: note_page::NotesPanel::new(drafter),
            language: Cell::new(language),
            history: RefCell::new(Vec::new()),
            trends_range: Cell::new(TrendRange::default()),
            epds_answers: RefCell::new([None; 10]),
            editing_checkup: Cell::new(None),
            pairing: RefCell::new(PairingFlow::default()),
            burst: RefCell::new((String::new(), Vec::new())),
            cancel: RefCell::new(Arc::new(AtomicBool::new(false))),
            generation: Cell::new(0),
            entry_fresh: Cell::new(true),
            toast_timer: slint::Timer::default(),
        });

        APPS.with(|apps| apps.borrow_mut().push((ctx.id, Rc::downgrade(&ctx))));
        let state = ui.global::<AppState>();
        let clinic = &ctx.config.clinic;
        state.set_clinic_name(clinic.name.as_str().into());
        state.set_clinic_phone(clinic.phone.as_str().into());
        state.set_emergency_phone(clinic.emergency_phone.as_str().into());
        let bp = &ctx.config.blood_pressure;
        let limit = |t: &crate::config::TierThreshold| {
            SharedString::from(format!(
                "{}/{}",
                crate::i18n::number(t.systolic),
                crate::i18n::number(t.diastolic)
            ))
        };
        state.set_advisory_limit(limit(&bp.advisory));
        state.set_same_day_limit(limit(&bp.same_day));
        state.set_emergency_limit(limit(&bp.emergency));

        {
            let c = ctx.clone();
            state.on_navigate(move |page| c.navigate(page));
            let c = ctx.clone();
            state.on_back(move || c.back());
            let c = ctx.clone();
            state.on_call(move |number| {
                tracing::info!("dialling {number}");
                (c.dialer)(number.as_str());
            });
            let c = ctx.clone();
            state.on_set_language(move |index| {
                let language = Language::ALL.get(index as usize).copied().unwrap_or_default();
                if let Err(e) = c.store.borrow_mut().set_setting(LANGUAGE_SETTING, language.code())
                {
                    c.report("saving the language", &e);
                }
                c.set_language(language);
            });
        }
        home::install(&ctx, &ui);
        bp::install(&ctx, &ui);
        trends::install(&ctx, &ui);
        checkups::install(&ctx, &ui);
        epds::install(&ctx, &ui);
        cuff::install(&ctx, &ui);
        settings::install(&ctx, &ui);
        note_page::install(&ctx, &ui);

        // Translations can only be selected once a component exists.
        ctx.set_language(language);
        ctx.navigate(Page::Home);
        settings::sync_on_start(&ctx);
        Ok(Self { ui, ctx })
    }

    /// Replaces the HTTPS transport of sync (another server client, or a test's fake); sync is
    /// available with it even without `[sync] server_url`.
    pub fn set_sync_transport(&self, transport: Arc<dyn crate::sync::SyncTransport>) {
        *self.ctx.sync.transport.borrow_mut() = Some(transport);
        self.ctx.refresh_current();
    }

    /// Replaces the microphone (the desktop's WAV-file import, a test's recording).
    pub fn set_recorder(&self, recorder: Box<dyn crate::notes::Recorder>) {
        *self.ctx.notes.recorder.borrow_mut() = recorder;
    }

    /// Replaces the drafter `[speech]` chose (a test's scripted on-phone transcriber).
    pub fn set_drafter(&self, drafter: crate::notes::Drafter) {
        *self.ctx.notes.drafter.borrow_mut() = Arc::new(drafter);
    }

    pub fn window(&self) -> &AppWindow {
        &self.ui
    }

    /// Shows a page as if she had navigated there (screenshots, tests).
    pub fn show_page(&self, page: Page) {
        self.ctx.navigate(page);
    }

    pub fn set_language(&self, language: Language) {
        self.ctx.set_language(language);
    }

    /// Runs `f` with her store (tests, demonstration data).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.ctx.store.borrow_mut())
    }

    /// Re-reads everything the current page shows.
    pub fn refresh(&self) {
        self.ctx.refresh_current();
    }

    /// Shows the window and runs the event loop until it closes.
    pub fn run(&self) -> Result<(), slint::PlatformError> {
        self.ui.run()
    }
}
