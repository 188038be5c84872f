//! Replay of real recordings from the datasets.

use std::process::Command;

use hardware::datasets::{datasets_dir_or_note, read_recording};
use hardware::sim::{FrameSource, JsonSample, Replay};

const BIN: &str = env!("CARGO_BIN_EXE_ctg-sim");

#[test]
fn replay_of_an_fhrma_recording_yields_its_samples() {
    let Some(dir) = datasets_dir_or_note("FHRMA replay") else { return };
    let path = dir.join("fhrma/train/train01.fhr");
    let recording = read_recording(&path).unwrap();
    let mut replay = Replay::new(recording.clone());
    let mut n = 0;
    while let Some(f) = replay.next_frame() {
        let i = f.tick as usize;
        assert_eq!(i, n);
        assert_eq!(
            f.sample.fhr1.map(|b| b.as_f32()),
            recording.fhr1[i].filter(|v| (30.0..=240.0).contains(v)),
            "FHR1 at {i}"
        );
        assert_eq!(
            f.sample.fhr2.map(|b| b.as_f32()),
            recording.fhr2[i].filter(|v| (30.0..=240.0).contains(v)),
            "FHR2 at {i}"
        );
        assert_eq!(
            f.sample.toco.map(|t| f32::from(t.value())),
            recording.toco[i].map(f32::round),
            "TOCO at {i}"
        );
        assert!(f.truth.is_none());
        n += 1;
    }
    assert_eq!(n, 14_007);
    // Known values of this file (see the dataset reader's tests).
    let f = Replay::new(recording).frame(1000).unwrap();
    assert_eq!(f.sample.fhr1.map(|b| b.as_f32()), Some(78.0));
    assert_eq!(f.sample.fhr2, None);
    assert_eq!(f.sample.toco.map(|t| t.value()), Some(83));
}

#[test]
fn replay_keeps_the_maternal_channel_of_an_fhrm_recording() {
    let Some(dir) = datasets_dir_or_note("FHRM replay") else { return };
    let recording =
        read_recording(&dir.join("fhrma-false-signal/train/DopMHRTrain0003.fhrm")).unwrap();
    let frames: Vec<_> = Replay::new(recording).collect();
    assert_eq!(frames.len(), 11_824);
    assert_eq!(frames[5000].sample.mhr.map(|b| b.as_f32()), Some(103.25));
    assert_eq!(frames[5000].sample.fhr1.map(|b| b.as_f32()), Some(93.75));
    assert_eq!(frames.iter().filter(|f| f.sample.mhr.is_some()).count(), 10_168);
}

#[test]
fn ctg_sim_replays_a_recording_on_both_wires() {
    let Some(dir) = datasets_dir_or_note("ctg-sim replay") else { return };
    let path = dir.join("fhrma/train/train01.fhr");
    let recording = read_recording(&path).unwrap();
    let json = Command::new(BIN)
        .args(["run", "--replay", path.to_str().unwrap(), "--speed", "max", "--wire", "json"])
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let lines: Vec<JsonSample> = std::str::from_utf8(&json.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), recording.len());
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.fhr1, recording.fhr1[i].filter(|v| (30.0..=240.0).contains(v)), "FHR1 at {i}");
    }

    // A CTU-UHB record, 10 minutes of it, through the Corometrics wire and back.
    let ctu = dir.join("ctu-uhb/1001.hea");
    let wire = Command::new(BIN)
        .args([
            "run",
            "--replay",
            ctu.to_str().unwrap(),
            "--duration",
            "10m",
            "--wire",
            "corometrics115",
        ])
        .output()
        .unwrap();
    assert!(wire.status.success(), "{}", String::from_utf8_lossy(&wire.stderr));
    let mut decoder = hardware::corometrics::Decoder::new();
    decoder.push(&wire.stdout);
    let hr1: Vec<Option<u16>> = decoder
        .by_ref()
        .filter_map(|m| match m {
            hardware::corometrics::Message::HeartRate1(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(hr1.len(), 2_400);
    let ctu_rec = read_recording(&ctu).unwrap();
    for (i, v) in hr1.iter().enumerate() {
        let want = ctu_rec.fhr1[i].filter(|v| (30.0..=240.0).contains(v)).map(|v| v.round() as u16);
        assert_eq!(*v, want, "HR1 at {i}");
    }
}
