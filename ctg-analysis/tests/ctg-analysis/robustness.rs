//! Bad input never panics and is never judged.

use ctg_analysis::{Analyzer, Config, ConfigError, Error, Figo, Sample, analyze};

#[test]
fn nothing_and_silence_are_not_classified() {
    let a = analyze(&[], &Config::default()).unwrap();
    assert_eq!(a.samples, 0);
    assert!(a.windows.is_empty() && a.baseline_bpm.is_empty());
    assert!(!a.antenatal.sufficient);

    let silent = vec![Sample::EMPTY; 4 * 60 * 25];
    let a = analyze(&silent, &Config::default()).unwrap();
    assert_eq!(a.windows.len(), 3);
    assert!(a.windows.iter().all(|w| w.figo == Figo::CannotAssess
        && w.jsog_level.is_none()
        && w.valid_fraction == 0.0));
    assert!(a.baseline_bpm.iter().all(Option::is_none));
    assert!(a.accelerations.is_empty() && a.decelerations.is_empty() && a.false_signal.is_empty());
}

#[test]
fn absurd_values_are_treated_as_missing() {
    let mut s = Vec::new();
    for i in 0..4 * 60 * 20 {
        let fhr = match i % 7 {
            0 => Some(f32::NAN),
            1 => Some(f32::INFINITY),
            2 => Some(1000.0),
            3 => Some(-5.0),
            4 => Some(0.0),
            _ => Some(140.0 + (i % 13) as f32 * 0.5),
        };
        s.push(Sample {
            fhr,
            mhr: Some(f32::NEG_INFINITY),
            toco: Some(f32::NAN),
            movement: i % 100 == 0,
        });
    }
    let a = analyze(&s, &Config::default()).unwrap();
    for b in a.baseline_bpm.iter().flatten() {
        assert!((130.0..=150.0).contains(b), "{b}");
    }
    // Only 2 of 7 samples are usable: under half of each window.
    assert!(a.windows.iter().all(|w| w.figo == Figo::CannotAssess && w.valid_fraction < 0.35));
}

#[test]
fn bad_configuration_is_refused_with_the_key() {
    let e = Analyzer::new(Config { window_s: 7, ..Config::default() }).unwrap_err();
    assert!(matches!(e, Error::Config(ConfigError::WindowSeconds(7))));
    assert!(e.to_string().starts_with("window_s"));
}

#[test]
fn the_current_window_is_available_while_streaming() {
    let mut a = Analyzer::new(Config::default()).unwrap();
    assert!(a.current_window().is_none());
    let s: Vec<Sample> = (0..4 * 90)
        .map(|i| Sample { fhr: Some(140.0 + (i % 9) as f32), ..Sample::EMPTY })
        .collect();
    a.push(&s);
    let w = a.current_window().expect("a minute and a half makes a partial window").clone();
    assert!(w.provisional);
    assert_eq!((w.start_s, w.end_s), (0.0, 90.0));
    assert!(a.baseline_at(100).is_some());
}
