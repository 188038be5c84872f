//! Her notes, typed or dictated. A dictation goes: [`Recorder`] (WAV bytes) → [`Drafter`]
//! (transcript + SOAP draft, on the phone when it has a speech model, else on the clinic's
//! server) → she reads and edits the draft → "This is what I meant" → [`checked_note`] → saved,
//! which queues it for sync.
//!
//! The recording lives only in memory while it is drafted, and is dropped afterwards: only the
//! note she checked is kept (privacy: her voice never rests on the phone or the server). The
//! draft itself is never saved until she confirms it.

#[cfg(feature = "microphone")]
pub mod microphone;
pub mod recorder;
pub mod wav;

use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;

use ai_notes::config::SpeechLanguage;
use ai_notes::soap::{Lang, Section, SoapNote};
use ai_notes::transcribe::{PipelineOptions, Transcriber, WhisperTranscriber};
use chrono::{DateTime, FixedOffset};
use phr_wire::records::{Note, NoteOrigin, SoapText, ValidationError};

use crate::config::SpeechConfig;
use crate::store::Store;
use crate::sync::{SyncEngine, SyncError, TransportError};

#[cfg(feature = "microphone")]
pub use microphone::Microphone;
pub use recorder::{NoMicrophone, RecordError, Recorder, ScriptedRecorder, WavFileRecorder};

/// Longest dictation, in seconds (the server's limit too).
pub const MAX_DICTATION_S: f64 = 300.0;
/// Largest recording sent to the server (its limit).
pub const MAX_WAV_BYTES: usize = 16 * 1024 * 1024;

/// Why no draft could be made. Every case ends with "type it instead" in the app.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("this phone has no speech model and is not connected to a clinic: type the note")]
    NoSpeech,
    #[error("the clinic's server cannot be reached ({0}): type the note, or try again later")]
    Offline(String),
    #[error("the clinic's server has no speech model: type the note")]
    ServerHasNoModel,
    #[error("please log in to the clinic again, or type the note")]
    LoginRequired,
    #[error("the recording is not usable: {0}")]
    Audio(String),
    #[error("the recording is {0:.0} s long; at most {MAX_DICTATION_S:.0} s")]
    TooLong(f64),
    #[error("the language must be ja or en, not {0:?}")]
    Lang(String),
    #[error("cannot load the phone's speech model: {0}")]
    Model(String),
    #[error("transcription failed: {0}")]
    Failed(String),
}

/// A transcript with its SOAP draft, for her to check. Not stored until she confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub lang: String,
    pub transcript: String,
    pub soap: SoapText,
    pub origin: NoteOrigin,
    /// The speech model that transcribed it.
    pub model: String,
}

fn lang_of(lang: &str) -> Result<(Lang, SpeechLanguage), DraftError> {
    match lang {
        "ja" => Ok((Lang::Ja, SpeechLanguage::Ja)),
        "en" => Ok((Lang::En, SpeechLanguage::En)),
        other => Err(DraftError::Lang(other.to_string())),
    }
}

/// The four sections of an ai-notes draft as plain text, one statement per line; red flags are
/// added to the assessment so she sees them (the same shape the server drafts).
pub fn soap_text(note: &SoapNote) -> SoapText {
    let join =
        |s: Section| note.section(s).map(|st| st.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut assessment = join(Section::A);
    for f in &note.red_flags {
        if !assessment.is_empty() {
            assessment.push('\n');
        }
        assessment.push_str(&f.message);
    }
    SoapText {
        subjective: join(Section::S),
        objective: join(Section::O),
        assessment,
        plan: join(Section::P),
    }
}

/// Transcribes a WAV recording with `transcriber` and drafts S/O/A/P from the transcript.
/// Pure apart from the transcriber; CPU-heavy with a real model (call off the UI thread).
pub fn draft_from_wav(
    transcriber: &mut dyn Transcriber,
    wav: &[u8],
    lang: &str,
) -> Result<(String, SoapText), DraftError> {
    let (soap_lang, speech_lang) = lang_of(lang)?;
    let (audio, _) = ai_notes::audio::decode_wav(Cursor::new(wav))
        .map_err(|e| DraftError::Audio(e.to_string()))?;
    if audio.duration_s() > MAX_DICTATION_S {
        return Err(DraftError::TooLong(audio.duration_s()));
    }
    if audio.samples.is_empty() {
        return Err(DraftError::Audio("the recording is empty".into()));
    }
    let pcm =
        ai_notes::audio::resample(&audio.samples, audio.sample_rate, ai_notes::audio::SAMPLE_RATE)
            .map_err(|e| DraftError::Audio(e.to_string()))?;
    let report = ai_notes::transcribe::transcribe(
        transcriber,
        None,
        &pcm,
        PipelineOptions { language: speech_lang, max_chunk_s: 30.0 },
        &mut |_| {},
    )
    .map_err(|e| DraftError::Failed(e.to_string()))?;
    let transcript = report.transcript.text();
    let soap = soap_text(&ai_notes::soap::structure(&transcript, soap_lang));
    Ok((transcript, soap))
}

/// The phone's own speech model.
struct OnPhone {
    transcriber: Mutex<Box<dyn Transcriber + Send>>,
    describe: String,
}

/// Makes drafts from dictations: on the phone when `[speech]` names a model, else on the
/// clinic's server, else not at all (she types).
pub struct Drafter {
    on_phone: Option<OnPhone>,
}

impl std::fmt::Debug for Drafter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drafter")
            .field("on_phone", &self.on_phone.as_ref().map(|p| p.describe.as_str()))
            .finish()
    }
}

impl Drafter {
    /// Only the server drafts (the phone has no model).
    pub fn server_only() -> Self {
        Self { on_phone: None }
    }

    /// Drafts on the phone with this transcriber (tests use ai-notes' scripted fake: no
    /// trained Whisper weights here).
    pub fn on_phone(transcriber: Box<dyn Transcriber + Send>, describe: impl Into<String>) -> Self {
        Self {
            on_phone: Some(OnPhone {
                transcriber: Mutex::new(transcriber),
                describe: describe.into(),
            }),
        }
    }

    /// As `[speech]` says: loads the Whisper model its ai-notes configuration names (checksum
    /// verified), or drafts on the server when none is named.
    pub fn from_config(speech: &SpeechConfig) -> Result<Self, DraftError> {
        let Some(path) = speech.model_config_path() else { return Ok(Self::server_only()) };
        Self::load_whisper(path)
    }

    fn load_whisper(path: &Path) -> Result<Self, DraftError> {
        let shown = path.display();
        let config = ai_notes::config::Config::load(path)
            .map_err(|e| DraftError::Model(format!("speech.model_config {shown}: {e}")))?;
        let model = config.model.path.clone().ok_or_else(|| {
            DraftError::Model(format!("speech.model_config {shown} names no [model] path"))
        })?;
        let whisper = WhisperTranscriber::new(&model, &config.expected(), &config.transcription)
            .map_err(|e| DraftError::Model(e.to_string()))?;
        let describe = whisper.model().describe();
        Ok(Self::on_phone(Box::new(whisper), describe))
    }

    /// The phone drafts by itself.
    pub fn has_model(&self) -> bool {
        self.on_phone.is_some()
    }

    /// Drafts her dictation. `server` is the sync engine and her store when she is connected to
    /// a clinic (used only when the phone has no model). The recording is dropped by the caller
    /// afterwards, whatever the outcome.
    pub fn draft(
        &self,
        wav: &[u8],
        lang: &str,
        server: Option<(&SyncEngine<'_>, &mut Store)>,
    ) -> Result<Draft, DraftError> {
        lang_of(lang)?;
        if let Some(p) = &self.on_phone {
            let mut t = p.transcriber.lock().unwrap_or_else(|e| e.into_inner());
            let (transcript, soap) = draft_from_wav(t.as_mut(), wav, lang)?;
            return Ok(Draft {
                lang: lang.to_string(),
                transcript,
                soap,
                origin: NoteOrigin::DictatedOnPhone,
                model: p.describe.clone(),
            });
        }
        let Some((engine, store)) = server else { return Err(DraftError::NoSpeech) };
        if wav.len() > MAX_WAV_BYTES {
            return Err(DraftError::Audio(format!(
                "{} bytes; the clinic accepts at most {MAX_WAV_BYTES}",
                wav.len()
            )));
        }
        let t = engine.transcribe(store, wav, lang).map_err(|e| match e {
            SyncError::NotSignedIn => DraftError::NoSpeech,
            SyncError::LoginRequired => DraftError::LoginRequired,
            SyncError::Offline(m) => DraftError::Offline(m),
            SyncError::Refused(TransportError::Status { status: 503, code, .. })
                if code == "no_speech_model" =>
            {
                DraftError::ServerHasNoModel
            }
            SyncError::Refused(TransportError::Status { status: 422, message, .. }) => {
                DraftError::Audio(message)
            }
            other => DraftError::Failed(other.to_string()),
        })?;
        if t.lang != lang {
            return Err(DraftError::Failed(format!(
                "the server drafted in {:?}, not {lang:?}",
                t.lang
            )));
        }
        Ok(Draft {
            lang: t.lang,
            transcript: t.transcript,
            soap: t.soap,
            origin: NoteOrigin::DictatedOnServer,
            model: t.model,
        })
    }
}

/// A note she typed.
pub fn typed_note(text: &str, lang: &str, now: DateTime<FixedOffset>) -> Note {
    Note {
        written_at: now,
        lang: lang.to_string(),
        text: text.trim().to_string(),
        soap: None,
        origin: NoteOrigin::Typed,
        checked_by_her: false,
    }
}

/// The note made from a draft she read, edited (`soap`) and confirmed ("This is what I meant").
pub fn checked_note(draft: &Draft, soap: SoapText, now: DateTime<FixedOffset>) -> Note {
    let trim = |s: String| s.trim().to_string();
    Note {
        written_at: now,
        lang: draft.lang.clone(),
        text: draft.transcript.trim().to_string(),
        soap: Some(SoapText {
            subjective: trim(soap.subjective),
            objective: trim(soap.objective),
            assessment: trim(soap.assessment),
            plan: trim(soap.plan),
        }),
        origin: draft.origin,
        checked_by_her: true,
    }
}

/// Why a note was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The clinic would refuse it (e.g. empty, too long): nothing saved.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// Checks a note with the API's own rules, then saves it and queues it for sync.
pub fn save_note(
    store: &mut Store,
    note: &Note,
    now: DateTime<FixedOffset>,
) -> Result<crate::store::StoredNote, SaveError> {
    note.validate(now.to_utc())?;
    Ok(store.insert_note(note, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppConfig;

    #[test]
    fn speech_config_picks_the_drafter_and_a_bad_model_path_names_the_key() {
        let c = AppConfig::default();
        assert_eq!(c.speech.model_config_path(), None);
        assert!(!Drafter::from_config(&c.speech).unwrap().has_model());

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("speech.toml");
        let toml = crate::config::EXAMPLE_TOML.replace(
            "model_config = \"\"",
            &format!("model_config = {:?}", missing.display().to_string()),
        );
        let c = AppConfig::from_toml(&toml).unwrap();
        assert_eq!(c.speech.model_config_path(), Some(missing.as_path()));
        let err = Drafter::from_config(&c.speech).unwrap_err();
        assert!(matches!(err, DraftError::Model(_)), "{err:?}");
        assert!(err.to_string().contains("speech.model_config"), "{err}");
    }

    #[test]
    fn a_checked_note_keeps_her_edits_and_the_drafts_origin() {
        let draft = Draft {
            lang: "en".into(),
            transcript: " Headache since this morning. ".into(),
            soap: SoapText::default(),
            origin: NoteOrigin::DictatedOnPhone,
            model: "scripted".into(),
        };
        let now = DateTime::parse_from_rfc3339("2026-05-12T08:00:00+09:00").unwrap();
        let edited = SoapText { subjective: " headache ".into(), ..SoapText::default() };
        let note = checked_note(&draft, edited, now);
        assert_eq!(note.text, "Headache since this morning.");
        assert_eq!(note.soap.as_ref().unwrap().subjective, "headache");
        assert_eq!((note.origin, note.checked_by_her), (NoteOrigin::DictatedOnPhone, true));
        assert!(note.validate(now.to_utc()).is_ok());
    }
}
