//! CTG strips: the grid, the normal band, traces with gaps, and the overlay layers, checked on
//! the rendered pixels.

use hardware::plot::{CtgPlot, Panel, Rgba, Series, Stroke};
use tiny_skia::Pixmap;

fn pixel(p: &Pixmap, x: f32, y: f32) -> (u8, u8, u8) {
    let c =
        p.pixel(x.round() as u32, y.round() as u32).expect("pixel inside the image").demultiply();
    (c.red(), c.green(), c.blue())
}

fn is_dark(c: (u8, u8, u8)) -> bool {
    c.0 < 110 && c.1 < 110 && c.2 < 110
}

/// 10 minutes at 180 bpm with a 1-minute gap from 4 to 5 min, TOCO a slow ramp.
fn strip() -> CtgPlot {
    let fhr: Vec<Option<f32>> =
        (0..2400).map(|i| if (960..1200).contains(&i) { None } else { Some(180.0) }).collect();
    let toco: Vec<Option<f32>> = (0..2400).map(|i| Some(i as f32 / 40.0)).collect();
    CtgPlot::new(10 * 60_000)
        .trace(Panel::Fhr, Series::at_4hz(0, fhr), Stroke::new(Rgba::TRACE, 1.5))
        .trace(Panel::Toco, Series::at_4hz(0, toco), Stroke::new(Rgba::TRACE, 1.5))
}

#[test]
fn trace_is_drawn_where_values_are_and_not_across_gaps() {
    let plot = strip();
    let p = plot.render().unwrap();
    let y180 = plot.y_of(Panel::Fhr, 180.0);
    for t in [30_000, 120_000, 200_000, 330_000, 500_000] {
        assert!(is_dark(pixel(&p, plot.x_of(t), y180)), "trace at {t} ms");
    }
    // No ink anywhere in the FHR panel inside the gap (4 min 5 s to 4 min 55 s).
    let (top, bottom) = plot.panel_bounds(Some(Panel::Fhr));
    for t in (245_000..295_000).step_by(5_000) {
        let x = plot.x_of(t);
        for y in (top as u32 + 2)..(bottom as u32 - 2) {
            assert!(!is_dark(pixel(&p, x, y as f32)), "ink in the gap at {t} ms, y {y}");
        }
    }
    // TOCO ramp: at 5 min it is at 30.
    let x = plot.x_of(300_000);
    assert!(is_dark(pixel(&p, x, plot.y_of(Panel::Toco, 30.0))));
    assert!(!is_dark(pixel(&p, x, plot.y_of(Panel::Toco, 60.0))));
}

#[test]
fn paper_has_the_normal_band_and_the_ctg_grid() {
    let plot = strip();
    let p = plot.render().unwrap();
    // Between grid lines: band tint inside 110-160, white outside.
    let x = plot.x_of(90_000) + 7.0;
    assert_eq!(
        pixel(&p, x, plot.y_of(Panel::Fhr, 135.0)),
        (Rgba::NORMAL_BAND.0, Rgba::NORMAL_BAND.1, Rgba::NORMAL_BAND.2)
    );
    assert_eq!(pixel(&p, x, plot.y_of(Panel::Fhr, 195.0)), (255, 255, 255));
    assert_eq!(pixel(&p, x, plot.y_of(Panel::Fhr, 75.0)), (255, 255, 255));
    // Horizontal lines: major every 30 bpm, minor every 10 (lines sit on the pixel row below
    // the value's edge).
    let row = |v: f32| plot.y_of(Panel::Fhr, v).round() + 0.0;
    let major = pixel(&p, x, row(90.0));
    let minor = pixel(&p, x, row(80.0));
    assert_eq!(
        major,
        (Rgba::GRID_MAJOR.0, Rgba::GRID_MAJOR.1, Rgba::GRID_MAJOR.2),
        "major at 90 bpm"
    );
    assert_ne!(minor, (255, 255, 255), "minor at 80 bpm");
    assert!(minor.1 > major.1, "minor lines are lighter than major ones");
    // Vertical lines every minute; the 10-minute lines are wider.
    let y = plot.y_of(Panel::Fhr, 195.0);
    let ink_width = |t: i64| {
        let x0 = plot.x_of(t).round() as i32;
        (x0 - 4..=x0 + 4).filter(|&x| pixel(&p, x as f32, y) != (255, 255, 255)).count()
    };
    assert!(ink_width(60_000) >= 1);
    assert!(
        ink_width(0) > ink_width(60_000),
        "0 min line {} vs 1 min {}",
        ink_width(0),
        ink_width(60_000)
    );
    assert_eq!(
        pixel(&p, plot.x_of(90_000), y),
        (255, 255, 255),
        "no line at 1.5 min at this scale"
    );
}

#[test]
fn overlay_layers_draw_on_top_of_the_trace() {
    let plot = strip()
        .hline(Panel::Fhr, 100.0, Stroke::new(Rgba::BLUE, 2.0), Some("BASELINE 100"))
        .vline(450_000, Stroke::new(Rgba::RED, 2.0), None)
        .shade(Some(Panel::Toco), 60_000, 120_000, Rgba::new(0, 200, 0, 255))
        .label(Panel::Fhr, 500_000, 70.0, "LATE", Rgba::RED);
    let p = plot.render().unwrap();
    let (r, g, b) = pixel(&p, plot.x_of(200_000) + 3.0, plot.y_of(Panel::Fhr, 100.0));
    assert!(b > 150 && r < 100 && g < 150, "blue baseline: {r} {g} {b}");
    let (r, _, b) = pixel(&p, plot.x_of(450_000), plot.y_of(Panel::Fhr, 130.0));
    assert!(r > 150 && b < 100, "red event line");
    let (r, g, b) = pixel(&p, plot.x_of(90_000) + 7.0, plot.y_of(Panel::Toco, 85.0));
    assert!(g > 150 && r < 60 && b < 60, "green span: {r} {g} {b}");
    // Shade stays in its panel.
    assert_ne!(pixel(&p, plot.x_of(90_000) + 7.0, plot.y_of(Panel::Fhr, 195.0)).0, 0);
    // The label's text has red ink near its anchor.
    let x0 = plot.x_of(500_000);
    let y0 = plot.y_of(Panel::Fhr, 70.0);
    let red = (0..30).flat_map(|dx| (-6..8).map(move |dy| (dx, dy))).any(|(dx, dy)| {
        let (r, g, b) = pixel(&p, x0 + dx as f32, y0 + dy as f32);
        r > 150 && g < 80 && b < 80
    });
    assert!(red, "label ink");
}

#[test]
fn png_round_trips_with_the_strip_geometry() {
    let plot = strip();
    let png = plot.render_png().unwrap();
    let decoded = Pixmap::decode_png(&png).unwrap();
    assert_eq!(decoded.width(), plot.width());
    assert_eq!(decoded.height(), plot.height());
    // 10 minutes at 60 px/min plus margins.
    assert!((600..800).contains(&plot.width()));
}
