//! Her notes and dictation: a recording becomes a draft on the phone (scripted transcriber: no
//! trained Whisper weights on a build machine) or on the server (the fake server, with the same
//! drafting), is never stored before she confirms it, and once saved travels to the clinic and
//! back to a second phone like every other record.

use ai_notes::transcribe::FakeTranscriber;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use mobile_app::config::AppConfig;
use mobile_app::notes::wav::encode_pcm16;
use mobile_app::notes::{
    DraftError, Drafter, Recorder, SaveError, ScriptedRecorder, checked_note, save_note, typed_note,
};
use mobile_app::store::Store;
use mobile_app::sync::SyncEngine;
use mobile_app::sync::fake::FakeServer;
use phr_wire::auth::{LoginRequest, RegisterRequest};
use phr_wire::records::{NoteOrigin, Record, RecordKind};

fn server_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap()
}

fn now() -> DateTime<FixedOffset> {
    server_now().with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap())
}

/// Three seconds of a 220 Hz tone at 16 kHz: real PCM the decoder and resampler work through.
fn recording(rate: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..rate * 3)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            ((t * 220.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
        })
        .collect();
    encode_pcm16(&samples, rate, 1).unwrap()
}

const SAID: &str = "朝から頭痛があります。血圧は142/92でした。目がちかちかします。";

fn signed_in(server: &FakeServer, store: &mut Store, config: &AppConfig) {
    let engine = SyncEngine::new(server, config);
    engine
        .register(
            store,
            &RegisterRequest {
                invitation_code: "INVITE-1".into(),
                login: "hanako@example.jp".into(),
                password: "correct horse battery".into(),
                display_name: "山田 花子".into(),
                device_name: "test phone".into(),
            },
        )
        .unwrap();
}

#[test]
fn an_on_phone_dictation_is_drafted_checked_saved_and_synced() {
    let config = AppConfig::default();
    let mut store = Store::open_in_memory().unwrap();
    let drafter = Drafter::on_phone(Box::new(FakeTranscriber::new(vec![SAID.into()])), "scripted");
    let mut mic = ScriptedRecorder::new(recording(44_100));
    mic.start().unwrap();
    let wav = mic.stop().unwrap();
    let draft = drafter.draft(&wav, "ja", None).unwrap();
    drop(wav);
    assert_eq!(draft.origin, NoteOrigin::DictatedOnPhone);
    assert_eq!(draft.transcript, SAID);
    assert!(draft.soap.subjective.contains("頭痛"), "{:?}", draft.soap);
    assert!(draft.soap.objective.contains("142"), "{:?}", draft.soap);
    assert!(store.notes().unwrap().is_empty(), "a draft is not saved before she confirms it");

    // She edits the plan, then "This is what I meant".
    let mut soap = draft.soap.clone();
    soap.plan = "  今日中に助産師に電話する ".into();
    let note = checked_note(&draft, soap, now());
    assert!(note.checked_by_her);
    assert_eq!(note.soap.as_ref().unwrap().plan, "今日中に助産師に電話する");
    let saved = save_note(&mut store, &note, now()).unwrap();

    let server = FakeServer::new(server_now(), &["INVITE-1"], &[("sakura", "さくら")]);
    signed_in(&server, &mut store, &config);
    let report = SyncEngine::new(&server, &config).sync(&mut store, now()).unwrap();
    assert_eq!(report.stored, 1);
    let held = &server.records()[&saved.id];
    assert_eq!(held.kind, RecordKind::Note);
    let on_server = Record::from_data(
        RecordKind::Note,
        serde_json::from_str(held.data.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(on_server, Record::Note(note.clone()));

    // A second phone of hers pulls it back.
    let mut second = Store::open_in_memory().unwrap();
    SyncEngine::new(&server, &config)
        .login(
            &mut second,
            &LoginRequest {
                login: "hanako@example.jp".into(),
                password: "correct horse battery".into(),
                device_name: "second".into(),
            },
        )
        .unwrap();
    let report = SyncEngine::new(&server, &config).sync(&mut second, now()).unwrap();
    assert_eq!((report.applied, report.skipped), (1, 0));
    let pulled = second.notes().unwrap();
    assert_eq!(pulled.len(), 1);
    assert_eq!((pulled[0].id, &pulled[0].note), (saved.id, &note));
    assert!(second.changes_since(0).unwrap().is_empty(), "pulled notes are not pushed back");

    // Deleting it on the second phone reaches the first.
    second.delete_note(saved.id, now()).unwrap();
    SyncEngine::new(&server, &config).sync(&mut second, now()).unwrap();
    SyncEngine::new(&server, &config).sync(&mut store, now()).unwrap();
    assert!(store.notes().unwrap().is_empty());
}

#[test]
fn without_a_model_on_the_phone_the_server_drafts() {
    let config = AppConfig::default();
    let mut store = Store::open_in_memory().unwrap();
    let drafter = Drafter::server_only();
    let server = FakeServer::new(server_now(), &["INVITE-1"], &[]);
    let wav = recording(16_000);

    // Not connected to a clinic: nothing can draft; she types.
    assert!(matches!(drafter.draft(&wav, "ja", None), Err(DraftError::NoSpeech)));
    let engine = SyncEngine::new(&server, &config);
    assert!(matches!(
        drafter.draft(&wav, "ja", Some((&engine, &mut store))),
        Err(DraftError::NoSpeech)
    ));

    signed_in(&server, &mut store, &config);
    // The server has no model: a clear 503, and the app says to type.
    let err = drafter.draft(&wav, "ja", Some((&engine, &mut store))).unwrap_err();
    assert!(matches!(err, DraftError::ServerHasNoModel), "{err:?}");
    assert!(err.to_string().contains("type"));

    // Offline: said so, nothing stored.
    server.set_offline(true);
    assert!(matches!(
        drafter.draft(&wav, "ja", Some((&engine, &mut store))),
        Err(DraftError::Offline(_))
    ));
    server.set_offline(false);

    server.set_transcriber(Box::new(FakeTranscriber::new(vec![
        "I have had a headache since this morning. I will call the midwife today.".into(),
    ])));
    let draft = drafter.draft(&wav, "en", Some((&engine, &mut store))).unwrap();
    assert_eq!(draft.origin, NoteOrigin::DictatedOnServer);
    assert_eq!(draft.lang, "en");
    assert!(draft.soap.subjective.to_lowercase().contains("headache"), "{:?}", draft.soap);
    // The one refused for want of a model and the one drafted; offline, nothing arrived.
    assert_eq!(server.transcriptions(), vec![wav.len(); 2]);
    assert!(store.notes().unwrap().is_empty());
    assert_eq!(store.pending_changes().unwrap(), 0, "drafting stores nothing");
}

#[test]
fn bad_recordings_and_empty_notes_get_clear_errors_and_store_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let drafter = Drafter::on_phone(Box::new(FakeTranscriber::new(vec!["x".into()])), "scripted");
    assert!(matches!(drafter.draft(b"RIFF....WAVEjunk", "ja", None), Err(DraftError::Audio(_))));
    assert!(matches!(drafter.draft(&recording(16_000), "fr", None), Err(DraftError::Lang(_))));
    let long = encode_pcm16(&vec![0i16; 8_000 * 301], 8_000, 1).unwrap();
    assert!(matches!(drafter.draft(&long, "ja", None), Err(DraftError::TooLong(_))));

    let empty = typed_note("   ", "ja", now());
    let err = save_note(&mut store, &empty, now()).unwrap_err();
    assert!(matches!(err, SaveError::Invalid(_)));
    assert!(err.to_string().contains("text"), "{err}");
    let typed = typed_note(" 胎動が少ない気がします ", "ja", now());
    let saved = save_note(&mut store, &typed, now()).unwrap();
    assert_eq!(saved.note.text, "胎動が少ない気がします");
    assert_eq!(saved.note.origin, NoteOrigin::Typed);
    assert_eq!(store.notes().unwrap().len(), 1);
}
