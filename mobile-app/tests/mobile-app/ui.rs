//! The app driven as she uses it, through Slint's testing backend (with the real software
//! renderer, so layout is the phone's): elements are found by what they say and tapped through
//! their accessibility actions. Slint allows one platform per process and one UI thread, so all UI
//! scenarios run in order inside one test.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use hardware::ble::bp::fixtures;
use i_slint_backend_testing::{
    AccessibleRole, ElementHandle, ElementRoot, TestingBackend, TestingBackendOptions,
};
use mobile_app::ble::fake::FakeCuff;
use mobile_app::ble::{CuffLink, LinkFactory};
use mobile_app::clock::{Clock, FixedClock};
use mobile_app::config::AppConfig;
use mobile_app::i18n::Language;
use mobile_app::model::{Source, Tier};
use mobile_app::sync::SyncTransport;
use mobile_app::sync::fake::FakeServer;
use mobile_app::{
    App, AppOptions, AppState, AppWindow, CuffAdapter, NotesAdapter, Page, SettingsAdapter,
    headless,
};
use phr_wire::consent::Scope;
use slint::ComponentHandle;

struct Harness {
    app: App,
    clock: Arc<FixedClock>,
    dialled: Rc<RefCell<Vec<String>>>,
}

impl Harness {
    fn new(data_dir: &Path, now: &str, links: LinkFactory) -> Self {
        let clock = Arc::new(FixedClock::new(DateTime::parse_from_rfc3339(now).unwrap()));
        let dialled = Rc::new(RefCell::new(Vec::new()));
        let sink = dialled.clone();
        let app = App::new(AppOptions {
            data_dir: Some(data_dir.to_path_buf()),
            config: AppConfig::default(),
            clock: clock.clone(),
            links,
            dialer: Rc::new(move |n| sink.borrow_mut().push(n.to_string())),
            language: Some(Language::English),
        })
        .unwrap();
        app.window().show().unwrap();
        Self { app, clock, dialled }
    }

    fn ui(&self) -> &AppWindow {
        self.app.window()
    }

    fn page(&self) -> Page {
        self.ui().global::<AppState>().get_page()
    }

    fn matching(&self, label: &str, role: AccessibleRole) -> Vec<ElementHandle> {
        ElementHandle::find_by_accessible_label(self.ui(), label)
            .filter(|e| e.accessible_role() == Some(role))
            .collect()
    }

    /// The one element with this label and role, scrolling the page down to it as she would
    /// (elements scrolled out of view cannot be found or tapped).
    fn find(&self, label: &str, role: AccessibleRole) -> ElementHandle {
        let mut found = self.matching(label, role);
        for _ in 0..12 {
            if !found.is_empty() {
                break;
            }
            for body in ElementHandle::find_by_element_type_name(self.ui(), "PageBody") {
                body.scroll(0.0, -250.0);
            }
            found = self.matching(label, role);
        }
        assert_eq!(
            found.len(),
            1,
            "{label:?} as {role:?}: found {}; texts on screen: {:?}",
            found.len(),
            self.texts()
        );
        found.into_iter().next().unwrap()
    }

    fn tap(&self, label: &str) {
        self.find(label, AccessibleRole::Button).invoke_accessible_default_action();
    }

    fn tab(&self, label: &str) {
        self.find(label, AccessibleRole::Tab).invoke_accessible_default_action();
    }

    fn tick(&self, label: &str) {
        self.find(label, AccessibleRole::Checkbox).invoke_accessible_default_action();
    }

    fn type_into(&self, label: &str, text: &str) {
        self.find(label, AccessibleRole::TextInput).set_accessible_value(text);
    }

    /// Every text on screen.
    fn texts(&self) -> Vec<String> {
        self.ui()
            .root_element()
            .query_descendants()
            .match_accessible_role(AccessibleRole::Text)
            .find_all()
            .into_iter()
            .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
            .collect()
    }

    fn shows(&self, text: &str) -> bool {
        self.texts().iter().any(|t| t == text)
    }

    fn shows_containing(&self, part: &str) -> bool {
        self.texts().iter().any(|t| t.contains(part))
    }

    fn record(&self, systolic: &str, diastolic: &str, pulse: &str, symptoms: &[&str]) {
        match self.page() {
            Page::Home => {}
            Page::BpResult => self.tap("Done"),
            _ => self.tab("Home"),
        }
        self.tap("Record");
        assert_eq!(self.page(), Page::BpEntry);
        self.type_into("Systolic (upper)", systolic);
        self.type_into("Diastolic (lower)", diastolic);
        self.type_into("Pulse (optional)", pulse);
        for s in symptoms {
            self.tick(s);
        }
        self.tap("Save and check");
    }
}

fn no_radio() -> LinkFactory {
    Arc::new(|| {
        Ok(Box::new(FakeCuff::new("00:00", "none", vec![]).unavailable()) as Box<dyn CuffLink>)
    })
}

#[test]
fn ui_flows() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: false,
        threading: true,
        renderer_name: Some("software".into()),
    })))
    .unwrap();

    entered_reading_shows_its_tier_and_advice_and_the_repeat_confirms_it();
    severe_reading_with_headache_gives_emergency_advice_and_the_number();
    implausible_values_ask_for_a_remeasure_and_are_not_saved();
    cuff_burst_is_imported_once_and_deduplicated_on_the_second_import();
    epds_item_10_above_zero_shows_the_safety_screen_whatever_the_total();
    epds_high_total_without_item_10_shows_the_result();
    checkup_is_recorded_with_its_gestational_age_and_weight_gain();
    language_switch_saves_and_translates();
    export_then_delete_everything();
    sync_panel_registers_syncs_shares_and_shows_offline();
    notes_are_typed_or_dictated_checked_by_her_and_synced();
}

fn entered_reading_shows_its_tier_and_advice_and_the_repeat_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
    h.record("146", "94", "80", &[]);
    assert_eq!(h.page(), Page::BpResult);
    assert!(h.shows("High: call today"), "{:?}", h.texts());
    assert!(h.shows("146/94"));
    assert!(
        h.shows_containing("Rest quietly for 5 minutes, then measure again to confirm"),
        "{:?}",
        h.texts()
    );

    // The repeat six minutes later confirms the tier: call the clinic today.
    h.clock.advance(chrono::Duration::minutes(6));
    h.tap("Measure again");
    assert_eq!(h.page(), Page::BpEntry);
    h.type_into("Systolic (upper)", "144");
    h.type_into("Diastolic (lower)", "92");
    h.tap("Save and check");
    assert!(h.shows("High: call today"));
    assert!(h.shows_containing("Call your clinic today"), "{:?}", h.texts());
    h.tap("Call your clinic");
    assert_eq!(*h.dialled.borrow(), vec!["03-1234-5678".to_string()]);

    let stored = h.app.with_store(|s| s.all_readings()).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0].tier, stored[0].tier_confirmed), (Tier::SameDay, false));
    assert_eq!((stored[1].tier, stored[1].tier_confirmed), (Tier::SameDay, true));
    assert_eq!(stored[1].data.source, Source::Manual);

    // Home shows it.
    h.tap("Done");
    assert_eq!(h.page(), Page::Home);
    assert!(h.shows("144/92"));
}

fn severe_reading_with_headache_gives_emergency_advice_and_the_number() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T21:00:00+09:00", no_radio());
    h.record("165", "112", "", &["Headache"]);
    assert!(h.shows("Very high: call now"), "{:?}", h.texts());
    assert!(h.shows("You have warning signs. Call the hospital now, whatever the numbers."));
    assert!(h.shows("• Headache"));
    h.tap("Call the hospital now");
    h.tap("Ambulance (if you cannot reach the hospital)");
    assert_eq!(*h.dialled.borrow(), vec!["03-1234-5600".to_string(), "119".to_string()]);
    let stored = h.app.with_store(|s| s.all_readings()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].tier, stored[0].tier_confirmed), (Tier::Emergency, true));
    assert!(stored[0].data.symptoms.any());

    // Headache alone, with normal numbers, is still an emergency.
    h.record("118", "74", "70", &["Headache"]);
    assert!(h.shows("Very high: call now"));
}

fn implausible_values_ask_for_a_remeasure_and_are_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
    h.record("80", "120", "70", &[]);
    assert!(h.shows("Please measure again"), "{:?}", h.texts());
    assert!(h.shows_containing("Were they swapped?"));
    assert!(!h.shows("Normal range"));
    assert_eq!(h.app.with_store(|s| s.reading_count()).unwrap(), 0);
    h.tap("Enter again");
    assert_eq!(h.page(), Page::BpEntry);
    // Not a number: the form says so and stays.
    h.type_into("Systolic (upper)", "12O");
    h.type_into("Diastolic (lower)", "80");
    h.tap("Save and check");
    assert_eq!(h.page(), Page::BpEntry);
    assert!(h.shows("Please enter whole numbers, like 120."));
}

fn run_until_cuff_state(h: &Harness, state: i32) {
    let ui = h.ui().as_weak();
    let reached = headless::run_until(
        move || ui.upgrade().is_some_and(|ui| ui.global::<CuffAdapter>().get_state() == state),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(reached, "cuff flow did not reach state {state}; texts: {:?}", h.texts());
}

fn cuff_burst_is_imported_once_and_deduplicated_on_the_second_import() {
    let dir = tempfile::tempdir().unwrap();
    // The cuff's memory: the stored-records burst (one of them a guest's) and a kPa reading from
    // a cuff whose clock was never set, byte for byte as cuffs send them.
    let links: LinkFactory = Arc::new(|| {
        let mut records: Vec<_> = fixtures::STORED_RECORDS_BURST.to_vec();
        records.push(fixtures::KPA_CLOCK_NOT_SET);
        Ok(Box::new(
            FakeCuff::with_records("C4:7C:8D:6A:11:02", "BLEsmart_00000480", &records).with_advert(
                mobile_app::ble::CuffAdvert {
                    id: "00:11:22:33:44:55".into(),
                    name: "Neighbour's cuff".into(),
                    rssi: Some(-90),
                },
            ),
        ) as Box<dyn CuffLink>)
    });
    let h = Harness::new(dir.path(), "2025-05-18T13:00:00+09:00", links);
    h.tab("Home");
    h.tap("From cuff");
    assert_eq!(h.page(), Page::Cuff);

    for round in 0..2 {
        if round == 1 {
            // Another day: back home, and import again.
            h.tap("Back");
            assert_eq!(h.page(), Page::Home);
            h.tap("From cuff");
        }
        h.tap("Search for my cuff");
        run_until_cuff_state(&h, 2);
        h.tap("BLEsmart_00000480");
        run_until_cuff_state(&h, 5);
        if round == 0 {
            assert!(h.shows("4 new readings imported"), "{:?}", h.texts());
            assert!(!h.shows_containing("already saved"));
        } else {
            assert!(h.shows("0 new readings imported"), "{:?}", h.texts());
            assert!(h.shows("4 were already saved and were skipped."), "{:?}", h.texts());
        }
        assert!(h.shows("From BLEsmart_00000480: 5 received."));
        assert!(h.shows_containing("clock looked wrong for 1 of them"));
        assert!(h.shows_containing("1 could not be read or was someone else's"));
    }

    let stored = h.app.with_store(|s| s.all_readings()).unwrap();
    assert_eq!(stored.len(), 4, "{stored:#?}");
    let values: Vec<(f64, f64)> =
        stored.iter().map(|r| (r.data.systolic, r.data.diastolic)).collect();
    assert_eq!(values, vec![(118.0, 76.0), (132.0, 88.0), (152.0, 101.0), (120.0, 80.0)]);
    // Device times were kept where believable; the unset clock got the receipt time, flagged.
    assert_eq!(
        stored[0].data.measured_at,
        DateTime::parse_from_rfc3339("2025-05-17T07:42:15+09:00").unwrap()
    );
    match &stored[3].data.source {
        Source::Cuff { clock_untrusted, device_id, .. } => {
            assert!(*clock_untrusted);
            assert_eq!(device_id, "C4:7C:8D:6A:11:02");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        stored[3].data.measured_at,
        DateTime::parse_from_rfc3339("2025-05-18T13:00:00+09:00").unwrap()
    );
    // The hypertensive reading was assessed against the one before it (normal): awaiting repeat.
    assert_eq!((stored[2].tier, stored[2].tier_confirmed), (Tier::SameDay, false));
    let cuffs = h.app.with_store(|s| s.paired_cuffs()).unwrap();
    assert_eq!(cuffs.len(), 1);
    assert!(cuffs[0].last_import_at.is_some());

    // What the newest reading means.
    h.tap("See what it means");
    assert_eq!(h.page(), Page::BpResult);
    assert!(h.shows("120/80"), "{:?}", h.texts());
    assert!(h.shows_containing("from BLEsmart_00000480"));
}

fn answer_epds(h: &Harness, labels: [&str; 10]) {
    h.tab("Mood");
    h.tap("Start");
    for label in labels {
        h.find(label, AccessibleRole::RadioButton).invoke_accessible_default_action();
    }
}

fn epds_item_10_above_zero_shows_the_safety_screen_whatever_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-09-01T10:00:00+09:00", no_radio());
    // Every answer the least worrying one except item 10, "Hardly ever" (scores 1): total 1.
    answer_epds(
        &h,
        [
            "As much as usual",
            "As much as usual",
            "No, never",
            "No, not at all",
            "No, not at all",
            "No, I coped as well as ever",
            "No, not at all",
            "No, not at all",
            "No, never",
            "Hardly ever",
        ],
    );
    assert!(h.shows("You do not have to face this alone"), "{:?}", h.texts());
    let clinic = format!("Call {}", AppConfig::default().clinic.name);
    h.find(&clinic, AccessibleRole::Button).invoke_accessible_default_action();
    h.find("いのちの電話 (Inochi no Denwa)", AccessibleRole::Button)
        .invoke_accessible_default_action();
    assert_eq!(*h.dialled.borrow(), vec!["03-1234-5678".to_string(), "0570-783-556".to_string()]);
    let records = h.app.with_store(|s| s.epds_records()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].total, records[0].item10), (1, 1));
    h.tap("See my result");
    assert!(h.shows("1"), "total shown: {:?}", h.texts());
    assert!(h.shows_containing("Your score is below 9"));
}

fn epds_high_total_without_item_10_shows_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-09-01T10:00:00+09:00", no_radio());
    // Reverse-scored items answered with their first (worst) option: 3 each for 3, 5-9 = 18;
    // items 1, 2 and 4 upward, "Not at all"/"Hardly at all"/"Yes, very often" = 9; item 10 never.
    answer_epds(
        &h,
        [
            "Not at all",
            "Hardly at all",
            "Yes, most of the time",
            "Yes, very often",
            "Yes, quite a lot",
            "Yes, most of the time I could not cope",
            "Yes, most of the time",
            "Yes, most of the time",
            "Yes, most of the time",
            "Never",
        ],
    );
    assert!(!h.shows("You do not have to face this alone"));
    assert!(h.shows("27"), "{:?}", h.texts());
    assert!(h.shows_containing("Your score is 9 or more"));
    let records = h.app.with_store(|s| s.epds_records()).unwrap();
    assert_eq!((records[0].total, records[0].item10), (27, 0));
}

fn checkup_is_recorded_with_its_gestational_age_and_weight_gain() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T10:00:00+09:00", no_radio());
    h.tab("Settings");
    h.type_into("Due date (YYYY-MM-DD)", "2026-08-01");
    h.type_into("Height", "158");
    h.type_into("Weight before pregnancy", "52");
    h.tap("Save");
    h.tab("Check-ups");
    assert!(
        !h.shows("Add your height and pre-pregnancy weight in Settings to see your target gain.")
    );
    h.tap("Add a check-up");
    assert_eq!(h.page(), Page::CheckupForm);
    h.type_into("Date (YYYY-MM-DD)", "2026-05-01");
    assert!(h.shows("26w 6d"), "gestational age follows the date: {:?}", h.texts());
    h.type_into("Facility", "Sakura Maternity Clinic");
    h.type_into("Weight", "58,4");
    h.type_into("Blood pressure (upper)", "118");
    h.type_into("Blood pressure (lower)", "72");
    h.type_into("Fundal height", "25.5");
    // A typing slip is caught and named.
    h.type_into("Abdominal circumference", "8.4");
    h.tap("Save");
    assert_eq!(h.page(), Page::CheckupForm);
    assert!(h.shows("That value is outside what a check-up can record. Please check it."));
    h.type_into("Abdominal circumference", "84");
    h.tap("Save");
    assert_eq!(h.page(), Page::Checkups);
    assert!(h.shows("Fri 1 May"), "{:?}", h.texts());
    assert!(h.shows("58.4 kg") && h.shows("118/72") && h.shows("25.5 cm"));
    assert!(h.shows("Now +6.4 kg since before pregnancy"));
    assert!(h.shows("Gain to aim for by birth: 10–13 kg (from your pre-pregnancy BMI)"));
    let stored = h.app.with_store(|s| s.checkups()).unwrap();
    assert_eq!(stored.len(), 1);
    let c = &stored[0].data;
    assert_eq!(
        (c.weight_kg, c.abdominal_circumference_cm, c.facility.as_str()),
        (Some(58.4), Some(84.0), "Sakura Maternity Clinic")
    );

    // Editing it: tap the card, change the weight, save; deleting removes it.
    h.find("Fri 1 May", AccessibleRole::Button).invoke_accessible_default_action();
    h.type_into("Weight", "58.9");
    h.tap("Save");
    assert!(h.shows("58.9 kg"));
    h.find("Fri 1 May", AccessibleRole::Button).invoke_accessible_default_action();
    h.tap("Delete this check-up");
    assert!(h.app.with_store(|s| s.checkups()).unwrap().is_empty());
}

fn language_switch_saves_and_translates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
        h.tab("Settings");
        h.find("日本語", AccessibleRole::Tab).invoke_accessible_default_action();
        assert!(h.shows("わたしの妊娠"), "{:?}", h.texts());
        h.find("ホーム", AccessibleRole::Tab).invoke_accessible_default_action();
        assert!(h.shows("前回の妊婦健診"));
    }
    // Her choice is stored; an app started without a forced language uses it.
    let app = App::new(AppOptions {
        data_dir: Some(dir.path().to_path_buf()),
        config: AppConfig::default(),
        clock: Arc::new(FixedClock::new(mobile_app::demo::now())),
        links: no_radio(),
        dialer: Rc::new(|_| {}),
        language: None,
    })
    .unwrap();
    assert_eq!(app.window().global::<AppState>().get_language(), 0);
    Language::English.select().unwrap();
}

fn export_then_delete_everything() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
    h.record("120", "78", "70", &[]);
    h.tap("Done");
    h.tab("Settings");
    h.type_into("Due date (YYYY-MM-DD)", "2026-08-01");
    h.tap("Save");
    h.find("Saved", AccessibleRole::Button);
    h.tap("Export all my data");
    let exports: Vec<_> = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(exports.len(), 2, "{exports:?}");
    let json = exports.iter().find(|p| !p.to_string_lossy().ends_with(".fhir.json")).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(value["blood_pressure"].as_array().unwrap().len(), 1);
    assert_eq!(value["profile"]["due_date"], "2026-08-01");

    h.tap("Delete all my data");
    h.tap("Delete everything");
    assert_eq!(h.page(), Page::Home);
    assert_eq!(h.app.with_store(|s| s.reading_count()).unwrap(), 0);
    assert_eq!(h.app.with_store(|s| s.profile()).unwrap(), Default::default());
    assert!(!dir.path().join("exports").exists());
    assert!(h.shows_containing("No readings yet"));
}

fn run_until_sync_idle(h: &Harness) {
    let ui = h.ui().as_weak();
    let done = headless::run_until(
        move || ui.upgrade().is_some_and(|ui| !ui.global::<SettingsAdapter>().get_sync_busy()),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(done, "sync did not finish; texts: {:?}", h.texts());
}

fn sync_panel_registers_syncs_shares_and_shows_offline() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
    let server_now = h.clock.now().with_timezone(&chrono::Utc);
    let server =
        Arc::new(FakeServer::new(server_now, &["INVITE-1"], &[("sakura", "さくら産婦人科")]));
    h.app.set_sync_transport(server.clone());
    h.record("146", "94", "80", &[]);
    h.tap("Done");
    h.tab("Settings");
    h.find("Not connected to a clinic", AccessibleRole::Text);

    h.type_into("Invitation code", "INVITE-1");
    h.type_into("Login", "hanako@example.jp");
    h.type_into("Password", "correct horse battery");
    h.tap("Register");
    run_until_sync_idle(&h);
    h.find("Last synced just now", AccessibleRole::Text);
    let stored = h.app.with_store(|s| s.reading_count()).unwrap();
    assert_eq!(server.records().len(), stored, "what she recorded offline reached the server");
    assert_eq!(h.ui().global::<SettingsAdapter>().get_password(), "", "password not kept");

    // Consent per clinic: share blood pressure, add check-ups, then stop.
    h.find("Not shared", AccessibleRole::Text);
    h.tap("Share with さくら産婦人科");
    run_until_sync_idle(&h);
    h.find("Shared since 12 May 2026", AccessibleRole::Text);
    h.tick("Check-ups");
    h.tap("Update sharing");
    run_until_sync_idle(&h);
    let access = h.app.with_store(|s| s.sync_state()).unwrap().access_token.unwrap();
    let consents = server.consents(&access).unwrap();
    assert_eq!(consents[0].scope, vec![Scope::BloodPressure, Scope::Checkups]);
    assert!(consents[0].revoked_at.is_none() && consents[1].revoked_at.is_some());
    h.tap("Stop sharing with さくら産婦人科");
    run_until_sync_idle(&h);
    h.find("Not shared", AccessibleRole::Text);
    assert!(server.consents(&access).unwrap().iter().all(|c| c.revoked_at.is_some()));

    // Offline: the new reading waits, and the page says so.
    server.set_offline(true);
    h.record("118", "76", "70", &[]);
    h.tap("Done");
    h.tab("Settings");
    h.tap("Sync now");
    run_until_sync_idle(&h);
    h.find("Offline — 1 change waiting", AccessibleRole::Text);
    server.set_offline(false);
    h.tap("Sync now");
    run_until_sync_idle(&h);
    h.find("Last synced just now", AccessibleRole::Text);
    assert_eq!(server.records().len(), stored + 1);
    // The home page says it too.
    h.tab("Home");
    h.find("Last synced just now", AccessibleRole::Text);
}

fn run_until_notes_mode(h: &Harness, mode: i32) {
    let ui = h.ui().as_weak();
    let done = headless::run_until(
        move || ui.upgrade().is_some_and(|ui| ui.global::<NotesAdapter>().get_mode() == mode),
        Duration::from_secs(20),
    )
    .unwrap();
    assert!(done, "notes page did not reach mode {mode}; texts: {:?}", h.texts());
}

fn notes_are_typed_or_dictated_checked_by_her_and_synced() {
    use ai_notes::transcribe::FakeTranscriber;
    use mobile_app::notes::ScriptedRecorder;
    use mobile_app::notes::wav::encode_pcm16;
    use phr_wire::records::NoteOrigin;

    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(dir.path(), "2026-05-12T07:30:00+09:00", no_radio());
    let server_now = h.clock.now().with_timezone(&chrono::Utc);
    let server = Arc::new(FakeServer::new(server_now, &["INVITE-1"], &[("sakura", "さくら")]));
    h.app.set_sync_transport(server.clone());
    let config = AppConfig::default();
    h.app
        .with_store(|s| {
            mobile_app::sync::SyncEngine::new(server.as_ref(), &config).register(
                s,
                &phr_wire::auth::RegisterRequest {
                    invitation_code: "INVITE-1".into(),
                    login: "hanako@example.jp".into(),
                    password: "correct horse battery".into(),
                    display_name: "Hanako".into(),
                    device_name: "ui test".into(),
                },
            )
        })
        .unwrap();

    h.tap("Open my notes");
    assert_eq!(h.page(), Page::Notes);
    h.find("No notes yet.", AccessibleRole::Text);

    // A typed note.
    h.tap("Write a note");
    h.type_into("Your note", "Baby moved a lot tonight");
    h.tap("Save note");
    h.find("Baby moved a lot tonight", AccessibleRole::Text);
    h.find("Typed", AccessibleRole::Text);

    // No microphone (a build without one, or a device without one): she is told to type.
    h.app.set_recorder(Box::new(mobile_app::notes::NoMicrophone));
    h.tap("Dictate");
    assert!(h.shows_containing("No microphone"), "{:?}", h.texts());

    // Dictation drafted by the server (the phone has no model), never saved unchecked.
    server.set_transcriber(Box::new(FakeTranscriber::new(vec![
        "I have had a headache since this morning. I will call the midwife today.".into(),
    ])));
    let samples: Vec<i16> = (0..32_000).map(|i| ((i % 64) * 200 - 6400) as i16).collect();
    h.app.set_recorder(Box::new(ScriptedRecorder::new(encode_pcm16(&samples, 16_000, 1).unwrap())));
    h.tap("Dictate");
    h.tap("Stop and make the draft");
    run_until_notes_mode(&h, 4);
    h.find("Dictated, drafted by the clinic's server", AccessibleRole::Text);
    assert!(h.shows_containing("headache since this morning"), "{:?}", h.texts());
    let adapter = h.ui().global::<NotesAdapter>();
    assert!(adapter.get_subjective().to_lowercase().contains("headache"));
    h.tap("Save note");
    assert_eq!(adapter.get_mode(), 4, "Save does nothing until she confirms");
    assert_eq!(h.app.with_store(|s| s.notes()).unwrap().len(), 1);
    h.type_into("P: what to do next", "Call the midwife before noon");
    h.tick("This is what I meant");
    h.tap("Save note");
    assert_eq!(adapter.get_mode(), 0);
    h.find("Checked by you", AccessibleRole::Text);
    let notes = h.app.with_store(|s| s.notes()).unwrap();
    assert_eq!(notes.len(), 2);
    let dictated = notes.iter().find(|n| n.note.checked_by_her).expect("the dictated note");
    assert_eq!(dictated.note.origin, NoteOrigin::DictatedOnServer);
    assert_eq!(dictated.note.soap.as_ref().unwrap().plan, "Call the midwife before noon");

    // Both go to the clinic with the next sync.
    h.tap("Back");
    h.tab("Settings");
    h.tap("Sync now");
    run_until_sync_idle(&h);
    let held = server.records();
    for n in &notes {
        assert_eq!(held[&n.id].kind, phr_wire::records::RecordKind::Note);
    }
}
