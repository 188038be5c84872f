//! `ctg-sim plot`: a trace on a CTG grid, to PNG.

use anyhow::{Context, Result, bail};
use hardware::plot::{CtgPlot, Layout, Panel, Rgba, Stroke};
use hardware::sim::{DecelKind, Frame, GroundTruth, Simulator, TICK_MS, parse_duration};

use crate::PlotArgs;

pub fn plot(args: &PlotArgs) -> Result<()> {
    if !(10.0..=600.0).contains(&args.px_per_min) {
        bail!("--px-per-min {} outside 10-600", args.px_per_min);
    }
    if args.annotate && args.source.scenario.is_none() {
        bail!("--annotate needs a simulated --scenario (a replay has no ground truth)");
    }
    let mut source = args.source.open()?;
    let from = args.from.as_deref().map(parse_duration).transpose()?.unwrap_or(0);
    let mut frames: Vec<Frame> = Vec::with_capacity(source.n_ticks as usize);
    for _ in 0..from {
        if source.next().is_none() {
            bail!("--from {} is past the end of the trace", args.from.as_deref().unwrap_or(""));
        }
    }
    for _ in 0..source.n_ticks {
        match source.next() {
            Some(f) => frames.push(f),
            None => break,
        }
    }
    if frames.is_empty() {
        bail!("nothing to plot");
    }
    let minutes = frames.len() as f64 / 240.0;
    let mut plot = CtgPlot::from_frames(&frames)
        .layout(Layout { px_per_min: args.px_per_min, ..Layout::default() })
        .title(format!("{}  {:.0} min from {} min", source.title, minutes, from / 240));
    if args.annotate
        && let Some((scenario, seed)) = source.scenario
    {
        // The same run again, for its plan: the simulator is deterministic.
        let mut sim = Simulator::with_options(scenario, seed, &source.sim_options)?;
        sim.skip_to(from + frames.len() as u64);
        plot = annotate(plot, &sim.truth().until(from + frames.len() as u64));
    }
    let png = plot.render_png()?;
    std::fs::write(&args.png, png)
        .with_context(|| format!("cannot write {}", args.png.display()))?;
    Ok(())
}

/// Overlays what the simulator planned: decelerations, accelerations, signal loss, maternal
/// pulse recorded as fetal.
fn annotate(mut plot: CtgPlot, truth: &GroundTruth) -> CtgPlot {
    let ms = |t: u64| t as i64 * TICK_MS;
    for s in &truth.signal_loss {
        plot = plot.shade(Some(Panel::Fhr), ms(s.start), ms(s.end), Rgba::new(120, 120, 120, 50));
    }
    for s in &truth.mhr_as_fhr {
        plot = plot
            .shade(Some(Panel::Fhr), ms(s.start), ms(s.end), Rgba::new(220, 40, 40, 40))
            .label(Panel::Fhr, ms(s.start), 200.0, "MHR AS FHR", Rgba::RED);
    }
    for d in &truth.decelerations {
        let name = match d.kind {
            DecelKind::Early => "EARLY",
            DecelKind::Late => "LATE",
            DecelKind::Variable => "VAR",
            DecelKind::Prolonged => "PROLONGED",
        };
        plot = plot
            .shade(Some(Panel::Fhr), ms(d.onset), ms(d.end), Rgba::new(40, 80, 220, 36))
            .vline(ms(d.nadir), Stroke::dashed(Rgba::BLUE, 1.0), None)
            .label(Panel::Fhr, ms(d.onset), 75.0, name, Rgba::BLUE);
    }
    for a in &truth.accelerations {
        plot = plot
            .shade(Some(Panel::Fhr), ms(a.onset), ms(a.end), Rgba::new(20, 160, 60, 40))
            .label(Panel::Fhr, ms(a.onset), 195.0, "ACC", Rgba::GREEN);
    }
    for c in &truth.contractions {
        plot = plot.shade(Some(Panel::Toco), ms(c.onset), ms(c.end), Rgba::new(40, 80, 220, 24));
    }
    plot
}
