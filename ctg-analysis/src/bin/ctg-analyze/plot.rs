//! `ctg-analyze plot`: the trace on a CTG strip with the analysis drawn over it.

use anyhow::{Context, Result, bail};
use ctg_analysis::{Analysis, DecelerationKind, Figo, Nichd, Sample};
use hardware::plot::{CtgPlot, Panel, Rgba, Series, Stroke};

fn ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

/// Renders `[start_s, end_s)` of a trace and its analysis to PNG bytes.
pub fn render(
    title: &str,
    samples: &[Sample],
    a: &Analysis,
    start_s: f64,
    end_s: f64,
) -> Result<Vec<u8>> {
    let n = samples.len();
    let i0 = ((start_s * 4.0) as usize).min(n);
    let i1 = ((end_s * 4.0).ceil() as usize).min(n);
    if i1 <= i0 {
        bail!(
            "nothing to plot between {start_s} s and {end_s} s (the trace lasts {} s)",
            n as f64 / 4.0
        );
    }
    let t0 = ms(i0 as f64 / 4.0);
    let in_range = |s: f64, e: f64| e > i0 as f64 / 4.0 && s < i1 as f64 / 4.0;
    let mut p = CtgPlot::new(ms((i1 - i0) as f64 / 4.0)).start_ms(t0).title(title);
    // Shading first, traces over it.
    for f in a.false_signal.iter().filter(|f| in_range(f.start_s, f.end_s)) {
        p = p.shade(Some(Panel::Fhr), ms(f.start_s), ms(f.end_s), Rgba::new(120, 120, 120, 70));
    }
    for e in a.accelerations.iter().filter(|e| in_range(e.start_s, e.end_s)) {
        p = p.shade(Some(Panel::Fhr), ms(e.start_s), ms(e.end_s), Rgba::new(20, 160, 60, 60));
    }
    for d in a.decelerations.iter().filter(|d| in_range(d.start_s, d.end_s)) {
        p = p.shade(Some(Panel::Fhr), ms(d.start_s), ms(d.end_s), Rgba::new(220, 40, 40, 55));
        let label = match d.kind {
            DecelerationKind::Early => "E",
            DecelerationKind::Late => "L",
            DecelerationKind::Variable => "V",
            DecelerationKind::Prolonged => "P",
            DecelerationKind::Unclassified => "?",
        };
        p = p.label(Panel::Fhr, ms(d.nadir_s), (d.nadir_bpm - 8.0).max(55.0), label, Rgba::RED);
    }
    for c in a.contractions.iter().filter(|c| in_range(c.start_s, c.end_s)) {
        p = p.shade(Some(Panel::Toco), ms(c.start_s), ms(c.end_s), Rgba::new(30, 80, 200, 40));
        p = p.vline(ms(c.peak_s), Stroke::dashed(Rgba::new(30, 80, 200, 120), 1.0), None);
    }
    let mhr: Vec<Option<f32>> = samples[i0..i1].iter().map(|s| s.mhr).collect();
    if mhr.iter().any(Option::is_some) {
        p = p.trace(Panel::Fhr, Series::at_4hz(t0, mhr), Stroke::new(Rgba::RED, 0.8));
    }
    let fhr: Vec<Option<f32>> = samples[i0..i1].iter().map(|s| s.fhr).collect();
    let toco: Vec<Option<f32>> = samples[i0..i1].iter().map(|s| s.toco).collect();
    p = p
        .trace(Panel::Fhr, Series::at_4hz(t0, fhr), Stroke::new(Rgba::TRACE, 1.1))
        .trace(
            Panel::Fhr,
            Series::at_4hz(t0, a.baseline_bpm[i0..i1].to_vec()),
            Stroke::new(Rgba::BLUE, 2.0),
        )
        .trace(Panel::Toco, Series::at_4hz(t0, toco), Stroke::new(Rgba::TRACE, 1.1));
    for w in a.windows.iter().filter(|w| in_range(w.start_s, w.end_s)) {
        let text = match (w.figo, w.nichd, w.jsog_level) {
            (Figo::CannotAssess, _, _) => {
                format!("cannot assess ({:.0}% signal)", 100.0 * w.valid_fraction)
            }
            (f, n, j) => format!(
                "FIGO {} NICHD {} JSOG {}{}",
                match f {
                    Figo::Normal => "N",
                    Figo::Suspicious => "S",
                    Figo::Pathological => "P",
                    Figo::CannotAssess => "-",
                },
                match n {
                    Nichd::CategoryI => "I",
                    Nichd::CategoryII => "II",
                    Nichd::CategoryIII => "III",
                    Nichd::CannotAssess => "-",
                },
                j.map_or_else(|| "-".to_owned(), |l| l.to_string()),
                if w.jsog_provisional { "*" } else { "" }
            ),
        };
        p = p.vline(ms(w.start_s), Stroke::new(Rgba::new(90, 90, 90, 200), 1.0), None);
        p = p.label(Panel::Fhr, ms(w.start_s + 10.0), 205.0, &text, Rgba::TRACE);
    }
    p.render_png().context("rendering the strip")
}
