//! Transcription through the real whisper.cpp code path with whisper.cpp's test stub model (no
//! trained weights exist on build machines: the text is meaningless, the timing is real), VAD
//! with the real Silero model, and the refusal of missing or wrong models.

use std::path::{Path, PathBuf};

use ai_notes::config::{SpeechLanguage, TranscriptionConfig, VadConfig};
use ai_notes::models::{Expected, ModelError, ModelOrigin, verify_model};
use ai_notes::transcribe::{PipelineOptions, TranscribeError, transcribe};
use ai_notes::vad::{SileroVad, VoiceDetector};
use ai_notes::{FakeTranscriber, WhisperTranscriber, audio};

use crate::common::{ai_notes, datasets, stderr, stdout};

struct Models {
    whisper: PathBuf,
    vad: PathBuf,
    speech: PathBuf,
}

fn models(what: &str) -> Option<Models> {
    let d = datasets(what)?;
    Some(Models {
        whisper: d.join("speech/models/for-tests-ggml-tiny.bin"),
        vad: d.join("speech/models/for-tests-silero-v6.2.0-ggml.bin"),
        speech: d.join("speech"),
    })
}

fn write_wav(path: &Path, samples: &[f32], rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        for _ in 0..channels {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

#[test]
fn the_stub_model_is_recognised_as_a_test_model() {
    let Some(m) = models("stub model identity") else { return };
    let v = verify_model(&m.whisper, &Expected::default()).unwrap();
    assert_eq!(v.origin, ModelOrigin::TestStub);
    assert!(v.multilingual);
    assert!(v.describe().contains("TEST STUB"));
}

#[test]
fn cli_transcribes_speech_samples_end_to_end_and_reports_the_real_time_factor() {
    let Some(m) = models("transcription with the stub model") else { return };
    for (wav, lang) in [
        ("synthetic/ja_midwife_openjtalk_16k.wav", "ja"),
        ("synthetic/en_midwife_espeak_16k.wav", "en"),
        ("real/jfk.wav", "en"),
        ("real/common_voice_ja/common_voice_ja_38833628_16k.wav", "ja"),
    ] {
        let audio_path = m.speech.join(wav);
        let out = ai_notes(
            &[
                "transcribe",
                audio_path.to_str().unwrap(),
                "--model",
                m.whisper.to_str().unwrap(),
                "--lang",
                lang,
                "--vad-model",
                m.vad.to_str().unwrap(),
                "--format",
                "json",
            ],
            None,
        );
        let err = stderr(&out);
        assert!(out.status.success(), "{wav}: {err}");
        assert!(err.contains("real-time factor"), "{err}");
        assert!(err.contains("test stub"), "{err}");
        assert!(err.contains("chunk 1/"), "progress is reported: {err}");
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let report = &v["report"];
        let audio_s = report["audio_s"].as_f64().unwrap();
        let (pcm, _) = audio::load_wav(&audio_path).unwrap();
        assert!((audio_s - pcm.duration_s()).abs() < 0.01, "{audio_s}");
        assert!(report["speech_s"].as_f64().unwrap() > 0.5, "VAD found speech in {wav}");
        assert!(report["speech_s"].as_f64().unwrap() <= audio_s + 0.01);
        let rtf = report["real_time_factor"].as_f64().unwrap();
        assert!(rtf > 0.0 && (rtf - report["elapsed_s"].as_f64().unwrap() / audio_s).abs() < 1e-6);
        assert_eq!(v["model"]["origin"], "test_stub");
        assert_eq!(v["transcript"]["language"], lang);
        eprintln!(
            "{wav}: {audio_s:.1} s audio, real-time factor {rtf:.3} (stub model, this build)"
        );
    }
}

#[test]
fn resampled_stereo_audio_goes_through_the_same_pipeline() {
    let Some(m) = models("resampled stereo transcription") else { return };
    let (pcm, info) = audio::load_wav(&m.speech.join("real/jfk.wav")).unwrap();
    assert_eq!(info.sample_rate, 16_000);
    let up = audio::resample(&pcm.samples, 16_000, 44_100).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stereo = dir.path().join("jfk_44k_stereo.wav");
    write_wav(&stereo, &up, 44_100, 2);
    let (back, info) = audio::load_wav_16k_mono(&stereo).unwrap();
    assert_eq!((info.sample_rate, info.channels), (44_100, 2));
    assert_eq!(back.samples.len(), pcm.samples.len());
    let mut vad = SileroVad::new(&m.vad, &VadConfig::default(), 1).unwrap();
    let original = vad.detect(&pcm.samples).unwrap();
    let converted = vad.detect(&back.samples).unwrap();
    assert!(!original.is_empty());
    let speech =
        |v: &[std::ops::Range<usize>]| v.iter().map(|r| r.len()).sum::<usize>() as f64 / 16_000.0;
    assert!((speech(&original) - speech(&converted)).abs() < 0.5, "{original:?} vs {converted:?}");
    let mut fake = FakeTranscriber::new(vec!["ask not".into()]);
    let options = PipelineOptions { language: SpeechLanguage::En, max_chunk_s: 30.0 };
    let report =
        transcribe(&mut fake, Some(&mut vad), &back.samples, options, &mut |_| {}).unwrap();
    assert_eq!(report.transcript.segments[0].text, "ask not");
    assert!(report.transcript.segments[0].start_s >= original[0].start as f64 / 16_000.0 - 0.5);
}

#[test]
fn vad_finds_no_speech_in_silence() {
    let Some(m) = models("vad on silence") else { return };
    let mut vad = SileroVad::new(&m.vad, &VadConfig::default(), 1).unwrap();
    let silence = vec![0.0f32; 16_000 * 5];
    assert!(vad.detect(&silence).unwrap().is_empty());
    let mut fake = FakeTranscriber::new(vec!["never used".into()]);
    let options = PipelineOptions { language: SpeechLanguage::Ja, max_chunk_s: 30.0 };
    let report = transcribe(&mut fake, Some(&mut vad), &silence, options, &mut |_| {}).unwrap();
    assert!(fake.calls.is_empty() && report.transcript.segments.is_empty() && report.chunks == 0);
}

#[test]
fn missing_and_wrong_models_fail_with_clear_messages() {
    let Some(m) = models("model refusals") else { return };
    let dir = tempfile::tempdir().unwrap();
    let wav = m.speech.join("real/jfk.wav");
    let wav = wav.to_str().unwrap();
    // No model at all.
    let out = ai_notes(&["transcribe", wav, "--lang", "en"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no Whisper model given"), "{}", stderr(&out));
    // A path that does not exist.
    let out = ai_notes(&["transcribe", wav, "--model", "/nonexistent/ggml-small.bin"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Whisper model not found at /nonexistent/ggml-small.bin"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("huggingface.co/ggerganov/whisper.cpp"));
    // A ggml file that is no published model (the VAD model).
    let out = ai_notes(&["transcribe", wav, "--model", m.vad.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("matches none of the published ggml model checksums"),
        "{}",
        stderr(&out)
    );
    // A truncated download of a published model.
    let truncated = dir.path().join("ggml-tiny.bin");
    let bytes = std::fs::read(&m.whisper).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = ai_notes(&["transcribe", wav, "--model", truncated.to_str().unwrap()], None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("checksum mismatch")
            && err.contains("bd577a113a864445d4c299885e0cb97d4ba92b5f"),
        "{err}"
    );
    // Not a model at all.
    let out = ai_notes(&["transcribe", wav, "--model", wav], None);
    assert!(stderr(&out).contains("is not a whisper.cpp ggml model"), "{}", stderr(&out));
    // A pinned checksum that does not match.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[model]\npath = {:?}\nsha256 = \"{}\"\n", m.whisper, "ab".repeat(32)),
    )
    .unwrap();
    let out = ai_notes(&["transcribe", wav, "--config", config.to_str().unwrap()], None);
    assert!(stderr(&out).contains("pinned in configuration"), "{}", stderr(&out));
    // Not audio.
    let out = ai_notes(
        &["transcribe", m.whisper.to_str().unwrap(), "--model", m.whisper.to_str().unwrap()],
        None,
    );
    assert!(stderr(&out).contains("not a readable WAV file"), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn an_english_only_model_refuses_japanese() {
    let Some(m) = models("english-only model") else { return };
    // The stub's header with the English-only vocabulary size, pinned as a configured model.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(&m.whisper).unwrap();
    bytes[4..8].copy_from_slice(&51_864i32.to_le_bytes());
    let path = dir.path().join("ggml-custom.en.bin");
    std::fs::write(&path, &bytes).unwrap();
    let v = verify_model(&path, &Expected::default());
    let ModelError::Unknown { sha256, .. } = v.unwrap_err() else { panic!() };
    let expected = Expected { sha256: Some(sha256), ..Expected::default() };
    let options =
        TranscriptionConfig { language: SpeechLanguage::Ja, ..TranscriptionConfig::default() };
    match WhisperTranscriber::new(&path, &expected, &options) {
        Err(TranscribeError::EnglishOnlyModel { .. }) => {}
        other => panic!("{other:?}"),
    }
}
