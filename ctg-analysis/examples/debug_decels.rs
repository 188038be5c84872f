use ctg_analysis::{Config, FetalChannel, Sample, analyze};
use hardware::sim::{Scenario, SimOptions, simulate};
fn main() {
    let sc: Scenario = std::env::args().nth(1).unwrap().parse().unwrap();
    let s = simulate(sc, 1, 90 * 240, &SimOptions::default()).unwrap();
    let samples: Vec<Sample> = s.frames.iter().map(|f| Sample::from_wire(&f.sample, FetalChannel::Fhr1)).collect();
    let a = analyze(&samples, &Config::default()).unwrap();
    for d in s.truth.decelerations.iter().take(12) {
        let c = d.contraction.map(|i| s.truth.contractions[i]);
        println!("TRUTH {:?} onset {:.0} nadir {:.0} end {:.0} depth {:.0} c_on {:?} c_peak {:?}", d.kind, d.onset as f64/4.0, d.nadir as f64/4.0, d.end as f64/4.0, d.depth_bpm, c.map(|c| c.onset as f64/4.0), c.map(|c| c.peak as f64/4.0));
        if let Some(x) = a.decelerations.iter().find(|x| x.end_s > d.onset as f64/4.0 && x.start_s < d.end as f64/4.0) {
            let cp = x.contraction.map(|i| a.contractions[i].peak_s);
            println!("  OURS {:?} start {:.0} onset {:.0} nadir {:.0} end {:.0} depth {:.0} lag {:?} cpeak {:?}", x.kind, x.start_s, x.onset_s, x.nadir_s, x.end_s, x.depth_bpm, x.lag_s, cp);
        }
    }
    for w in &a.windows { println!("{:?} {:?} {:?} sin={} var={:?}", w.start_s, w.figo, w.nichd, w.sinusoidal, w.variability_bpm); }
    let sin: Vec<bool> = a.minutes.iter().map(|m| m.sinusoidal).collect();
    println!("{:?}", sin.iter().map(|b| if *b {'S'} else {'.'}).collect::<String>());
}
