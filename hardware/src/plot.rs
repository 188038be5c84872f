//! Renders CTG traces on a standard CTG strip (paper look) to PNG.
//!
//! The strip has an FHR panel (50–210 bpm, a line every 10 bpm, stronger every 30 bpm, the
//! normal 110–160 band tinted), a narrow band for event marks and fetal movements, and a TOCO
//! panel (0–100, a line every 10, stronger every 20). Vertical lines fall every minute, stronger
//! every 10 minutes. Missing samples are gaps, never lines drawn across.
//!
//! [`CtgPlot`] is a builder with layers, so analysis can draw over a trace: traces, horizontal
//! and vertical markers, shaded spans and text labels.
//!
//! ```
//! use hardware::plot::{CtgPlot, Panel, Rgba, Series, Stroke};
//!
//! let fhr: Vec<Option<f32>> = (0..2400).map(|i| Some(140.0 + (i as f32 / 40.0).sin() * 5.0)).collect();
//! let png = CtgPlot::new(10 * 60_000)
//!     .title("example")
//!     .trace(Panel::Fhr, Series::at_4hz(0, fhr), Stroke::new(Rgba::TRACE, 1.2))
//!     .hline(Panel::Fhr, 140.0, Stroke::dashed(Rgba::BLUE, 1.5), Some("baseline 140"))
//!     .shade(Some(Panel::Fhr), 120_000, 180_000, Rgba::new(255, 0, 0, 40))
//!     .render_png()
//!     .unwrap();
//! assert_eq!(&png[1..4], b"PNG");
//! ```
//!
//! Text uses a small built-in 5×7 bitmap font (digits, Latin letters, common punctuation):
//! no system fonts are needed. Characters it lacks are drawn as `?`.

use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, StrokeDash, Transform,
};

use crate::sim::Frame;

/// A colour with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    pub const fn new(r: u8, g: u8, b: u8, a: u8) -> Self {
        Self(r, g, b, a)
    }
    pub const WHITE: Rgba = Rgba(255, 255, 255, 255);
    /// The pen of a CTG recorder.
    pub const TRACE: Rgba = Rgba(20, 20, 30, 255);
    pub const BLUE: Rgba = Rgba(30, 80, 200, 255);
    pub const RED: Rgba = Rgba(200, 30, 40, 255);
    pub const GREEN: Rgba = Rgba(20, 140, 60, 255);
    /// Minor grid lines of Japanese CTG paper.
    pub const GRID_MINOR: Rgba = Rgba(246, 196, 176, 255);
    /// Major grid lines.
    pub const GRID_MAJOR: Rgba = Rgba(232, 128, 96, 255);
    /// Printed scale numbers.
    pub const PRINT: Rgba = Rgba(196, 84, 52, 255);
    /// The 110–160 bpm band.
    pub const NORMAL_BAND: Rgba = Rgba(226, 244, 226, 255);

    fn paint(self) -> Paint<'static> {
        let mut p = Paint::default();
        p.set_color_rgba8(self.0, self.1, self.2, self.3);
        p.anti_alias = true;
        p
    }
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stroke {
    pub color: Rgba,
    pub width: f32,
    pub dashed: bool,
}

impl Stroke {
    pub const fn new(color: Rgba, width: f32) -> Self {
        Self { color, width, dashed: false }
    }
    pub const fn dashed(color: Rgba, width: f32) -> Self {
        Self { color, width, dashed: true }
    }
}

/// The two panels of a strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    /// Heart rates, 50–210 bpm.
    Fhr,
    /// Uterine activity, 0–100.
    Toco,
}

/// Regularly sampled values; `None` is a gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub start_ms: i64,
    pub period_ms: i64,
    pub values: Vec<Option<f32>>,
}

impl Series {
    pub fn new(start_ms: i64, period_ms: i64, values: Vec<Option<f32>>) -> Self {
        Self { start_ms, period_ms: period_ms.max(1), values }
    }

    /// A 4 Hz series (one value per 250 ms) starting at `start_ms`.
    pub fn at_4hz(start_ms: i64, values: Vec<Option<f32>>) -> Self {
        Self::new(start_ms, ctg_wire::SAMPLE_PERIOD_MS, values)
    }

    /// One channel of a run of frames (which must be consecutive).
    pub fn from_frames(frames: &[Frame], channel: impl Fn(&Frame) -> Option<f32>) -> Self {
        let start = frames.first().map_or(0, Frame::t_ms);
        Self::at_4hz(start, frames.iter().map(channel).collect())
    }
}

/// Why a plot could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("nothing to plot: the strip has no duration")]
    Empty,
    #[error("strip too large to render: {width}×{height} px (at most {max} px wide)")]
    TooLarge { width: u32, height: u32, max: u32 },
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// Geometry of the strip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Horizontal scale. 60 px/min with 2 px/bpm keeps the proportions of 1 cm/min paper at
    /// 30 bpm/cm.
    pub px_per_min: f32,
    pub px_per_bpm: f32,
    pub px_per_toco: f32,
}

impl Default for Layout {
    fn default() -> Self {
        Self { px_per_min: 60.0, px_per_bpm: 2.0, px_per_toco: 2.0 }
    }
}

const FHR_MIN: f32 = 50.0;
const FHR_MAX: f32 = 210.0;
const TOCO_MAX: f32 = 100.0;
const MARGIN_LEFT: f32 = 44.0;
const MARGIN_RIGHT: f32 = 44.0;
const TITLE_H: f32 = 30.0;
const BAND_H: f32 = 26.0;
const AXIS_H: f32 = 26.0;
const MAX_WIDTH: u32 = 60_000;

#[derive(Debug, Clone)]
enum Layer {
    Trace { panel: Panel, series: Series, stroke: Stroke },
    HLine { panel: Panel, value: f32, stroke: Stroke, label: Option<String> },
    VLine { t_ms: i64, stroke: Stroke, label: Option<String> },
    Shade { panel: Option<Panel>, start_ms: i64, end_ms: i64, color: Rgba },
    Label { panel: Panel, t_ms: i64, value: f32, text: String, color: Rgba },
    Mark { t_ms: i64, color: Rgba },
    Movement { start_ms: i64, end_ms: i64 },
}

/// A CTG strip being assembled; see the module documentation.
#[derive(Debug, Clone)]
pub struct CtgPlot {
    start_ms: i64,
    duration_ms: i64,
    layout: Layout,
    title: Option<String>,
    layers: Vec<Layer>,
}

impl CtgPlot {
    /// An empty strip of `duration_ms` starting at t = 0.
    pub fn new(duration_ms: i64) -> Self {
        Self {
            start_ms: 0,
            duration_ms,
            layout: Layout::default(),
            title: None,
            layers: Vec::new(),
        }
    }

    /// A strip of a run of frames: FHR1 (black), FHR2 (blue), MHR (red, thin), TOCO, fetal
    /// movements and event marks.
    pub fn from_frames(frames: &[Frame]) -> Self {
        let start = frames.first().map_or(0, Frame::t_ms);
        let mut plot = Self::new(frames.len() as i64 * ctg_wire::SAMPLE_PERIOD_MS).start_ms(start);
        let bpm = |b: Option<ctg_wire::Bpm>| b.map(ctg_wire::Bpm::as_f32);
        if frames.iter().any(|f| f.sample.mhr.is_some()) {
            plot = plot.trace(
                Panel::Fhr,
                Series::from_frames(frames, |f| bpm(f.sample.mhr)),
                Stroke::new(Rgba::RED, 1.0),
            );
        }
        if frames.iter().any(|f| f.sample.fhr2.is_some()) {
            plot = plot.trace(
                Panel::Fhr,
                Series::from_frames(frames, |f| bpm(f.sample.fhr2)),
                Stroke::new(Rgba::BLUE, 1.2),
            );
        }
        plot = plot
            .trace(
                Panel::Fhr,
                Series::from_frames(frames, |f| bpm(f.sample.fhr1)),
                Stroke::new(Rgba::TRACE, 1.2),
            )
            .trace(
                Panel::Toco,
                Series::from_frames(frames, |f| f.sample.toco.map(|t| f32::from(t.value()))),
                Stroke::new(Rgba::TRACE, 1.2),
            );
        let mut run: Option<i64> = None;
        for f in frames {
            let moving = f.sample.movement == Some(ctg_wire::Movement::Detected);
            match (moving, run) {
                (true, None) => run = Some(f.t_ms()),
                (false, Some(s)) => {
                    plot = plot.movement(s, f.t_ms());
                    run = None;
                }
                _ => {}
            }
            if f.sample.mark {
                plot = plot.mark(f.t_ms(), Rgba::TRACE);
            }
        }
        if let (Some(s), Some(last)) = (run, frames.last()) {
            plot = plot.movement(s, last.t_ms() + ctg_wire::SAMPLE_PERIOD_MS);
        }
        plot
    }

    pub fn start_ms(mut self, start_ms: i64) -> Self {
        self.start_ms = start_ms;
        self
    }

    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// A line through the values of `series`, broken where values are missing.
    pub fn trace(mut self, panel: Panel, series: Series, stroke: Stroke) -> Self {
        self.layers.push(Layer::Trace { panel, series, stroke });
        self
    }

    /// A horizontal line across the strip (a baseline, a threshold), optionally labelled.
    pub fn hline(mut self, panel: Panel, value: f32, stroke: Stroke, label: Option<&str>) -> Self {
        self.layers.push(Layer::HLine { panel, value, stroke, label: label.map(str::to_owned) });
        self
    }

    /// A vertical line through both panels (an event, a contraction peak), optionally labelled.
    pub fn vline(mut self, t_ms: i64, stroke: Stroke, label: Option<&str>) -> Self {
        self.layers.push(Layer::VLine { t_ms, stroke, label: label.map(str::to_owned) });
        self
    }

    /// A shaded time span in one panel, or in both when `panel` is `None`.
    pub fn shade(mut self, panel: Option<Panel>, start_ms: i64, end_ms: i64, color: Rgba) -> Self {
        self.layers.push(Layer::Shade { panel, start_ms, end_ms, color });
        self
    }

    /// Text placed at a time and value (its left end at `t_ms`, centred on `value`).
    pub fn label(mut self, panel: Panel, t_ms: i64, value: f32, text: &str, color: Rgba) -> Self {
        self.layers.push(Layer::Label { panel, t_ms, value, text: text.to_owned(), color });
        self
    }

    /// An event mark (arrow in the band between the panels).
    pub fn mark(mut self, t_ms: i64, color: Rgba) -> Self {
        self.layers.push(Layer::Mark { t_ms, color });
        self
    }

    /// A fetal movement (bar in the band between the panels).
    pub fn movement(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.layers.push(Layer::Movement { start_ms, end_ms });
        self
    }

    // ----------------------------------------------------------------------------------------
    // Geometry (public so that tests and overlays can locate things on the image)

    pub fn width(&self) -> u32 {
        let minutes = self.duration_ms as f32 / 60_000.0;
        (MARGIN_LEFT + minutes * self.layout.px_per_min + MARGIN_RIGHT).ceil() as u32
    }

    pub fn height(&self) -> u32 {
        (self.toco_bottom() + AXIS_H).ceil() as u32
    }

    fn fhr_top(&self) -> f32 {
        TITLE_H
    }
    fn fhr_bottom(&self) -> f32 {
        self.fhr_top() + (FHR_MAX - FHR_MIN) * self.layout.px_per_bpm
    }
    fn band_top(&self) -> f32 {
        self.fhr_bottom()
    }
    fn toco_top(&self) -> f32 {
        self.band_top() + BAND_H
    }
    fn toco_bottom(&self) -> f32 {
        self.toco_top() + TOCO_MAX * self.layout.px_per_toco
    }
    fn plot_right(&self) -> f32 {
        self.x_of(self.start_ms + self.duration_ms)
    }

    /// x pixel of a time.
    pub fn x_of(&self, t_ms: i64) -> f32 {
        MARGIN_LEFT + (t_ms - self.start_ms) as f32 / 60_000.0 * self.layout.px_per_min
    }

    /// y pixel of a value in a panel (values outside the panel's range are clamped to its edge).
    pub fn y_of(&self, panel: Panel, value: f32) -> f32 {
        match panel {
            Panel::Fhr => {
                self.fhr_bottom()
                    - (value.clamp(FHR_MIN, FHR_MAX) - FHR_MIN) * self.layout.px_per_bpm
            }
            Panel::Toco => {
                self.toco_bottom() - value.clamp(0.0, TOCO_MAX) * self.layout.px_per_toco
            }
        }
    }

    /// The y range (top, bottom) of a panel, or of the band between them.
    pub fn panel_bounds(&self, panel: Option<Panel>) -> (f32, f32) {
        match panel {
            Some(Panel::Fhr) => (self.fhr_top(), self.fhr_bottom()),
            Some(Panel::Toco) => (self.toco_top(), self.toco_bottom()),
            None => (self.band_top(), self.toco_top()),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Rendering

    /// Renders the strip.
    pub fn render(&self) -> Result<Pixmap, PlotError> {
        if self.duration_ms <= 0 {
            return Err(PlotError::Empty);
        }
        let (w, h) = (self.width(), self.height());
        if w > MAX_WIDTH {
            return Err(PlotError::TooLarge { width: w, height: h, max: MAX_WIDTH });
        }
        let mut pm =
            Pixmap::new(w, h).ok_or(PlotError::TooLarge { width: w, height: h, max: MAX_WIDTH })?;
        pm.fill(tiny_skia::Color::WHITE);
        self.draw_paper(&mut pm);
        // Shades under everything else, then lines, then traces, then labels on top.
        for l in &self.layers {
            if let Layer::Shade { panel, start_ms, end_ms, color } = l {
                let (top, bottom) = match panel {
                    Some(p) => self.panel_bounds(Some(*p)),
                    None => (self.fhr_top(), self.toco_bottom()),
                };
                let x0 = self.x_of(*start_ms).max(MARGIN_LEFT);
                let x1 = self.x_of(*end_ms).min(self.plot_right());
                fill_rect(&mut pm, x0, top, x1 - x0, bottom - top, *color);
            }
        }
        for l in &self.layers {
            match l {
                Layer::HLine { panel, value, stroke, .. } => {
                    let y = self.y_of(*panel, *value);
                    line(&mut pm, MARGIN_LEFT, y, self.plot_right(), y, *stroke);
                }
                Layer::VLine { t_ms, stroke, .. } => {
                    let x = self.x_of(*t_ms);
                    line(&mut pm, x, self.fhr_top(), x, self.toco_bottom(), *stroke);
                }
                Layer::Movement { start_ms, end_ms } => {
                    let x0 = self.x_of(*start_ms);
                    let x1 = self.x_of(*end_ms).max(x0 + 1.5);
                    let (top, bottom) = self.panel_bounds(None);
                    fill_rect(&mut pm, x0, top + 15.0, x1 - x0, bottom - top - 18.0, Rgba::TRACE);
                }
                Layer::Mark { t_ms, color } => {
                    let x = self.x_of(*t_ms);
                    let (top, _) = self.panel_bounds(None);
                    let mut pb = PathBuilder::new();
                    pb.move_to(x - 4.0, top + 3.0);
                    pb.line_to(x + 4.0, top + 3.0);
                    pb.line_to(x, top + 11.0);
                    pb.close();
                    if let Some(path) = pb.finish() {
                        pm.fill_path(
                            &path,
                            &color.paint(),
                            FillRule::Winding,
                            Transform::identity(),
                            None,
                        );
                    }
                }
                _ => {}
            }
        }
        for l in &self.layers {
            if let Layer::Trace { panel, series, stroke } = l {
                self.draw_trace(&mut pm, *panel, series, *stroke);
            }
        }
        for l in &self.layers {
            match l {
                Layer::HLine { panel, value, stroke, label: Some(text) } => {
                    let y = self.y_of(*panel, *value);
                    text_boxed(&mut pm, MARGIN_LEFT + 4.0, y - 16.0, text, 1, stroke.color);
                }
                Layer::VLine { t_ms, stroke, label: Some(text) } => {
                    text_boxed(
                        &mut pm,
                        self.x_of(*t_ms) + 3.0,
                        self.fhr_top() + 3.0,
                        text,
                        1,
                        stroke.color,
                    );
                }
                Layer::Label { panel, t_ms, value, text, color } => {
                    let y = self.y_of(*panel, *value) - 4.0;
                    text_boxed(&mut pm, self.x_of(*t_ms), y, text, 1, *color);
                }
                _ => {}
            }
        }
        if let Some(title) = &self.title {
            draw_text(&mut pm, MARGIN_LEFT, 8.0, title, 2, Rgba::TRACE);
        }
        Ok(pm)
    }

    /// Renders the strip as PNG bytes.
    pub fn render_png(&self) -> Result<Vec<u8>, PlotError> {
        self.render()?.encode_png().map_err(|e| PlotError::Encode(e.to_string()))
    }

    fn draw_paper(&self, pm: &mut Pixmap) {
        let left = MARGIN_LEFT;
        let right = self.plot_right();
        // Normal FHR band.
        let (y160, y110) = (self.y_of(Panel::Fhr, 160.0), self.y_of(Panel::Fhr, 110.0));
        fill_rect(pm, left, y160, right - left, y110 - y160, Rgba::NORMAL_BAND);

        let minor = Stroke::new(Rgba::GRID_MINOR, 1.0);
        let major = Stroke::new(Rgba::GRID_MAJOR, 1.0);
        let ten_min = Stroke::new(Rgba::GRID_MAJOR, 2.0);
        // Horizontal lines.
        for v in (50..=210).step_by(10) {
            let y = self.y_of(Panel::Fhr, v as f32).round() + 0.5;
            line(pm, left, y, right, y, if v % 30 == 0 { major } else { minor });
        }
        for v in (0..=100).step_by(10) {
            let y = self.y_of(Panel::Toco, v as f32).round() + 0.5;
            line(pm, left, y, right, y, if v % 20 == 0 { major } else { minor });
        }
        // Vertical lines: every 10 s when there is room, every minute, stronger every 10 min.
        let first_min = self.start_ms.div_euclid(60_000);
        let last_min = (self.start_ms + self.duration_ms).div_euclid(60_000);
        let panels = [(self.fhr_top(), self.fhr_bottom()), (self.toco_top(), self.toco_bottom())];
        if self.layout.px_per_min >= 120.0 {
            let fine = Stroke::new(Rgba::GRID_MINOR, 0.6);
            for s10 in (first_min * 6)..=(last_min * 6 + 5) {
                let t = s10 * 10_000;
                if t % 60_000 != 0 && t >= self.start_ms && t <= self.start_ms + self.duration_ms {
                    let x = self.x_of(t).round() + 0.5;
                    for (top, bottom) in panels {
                        line(pm, x, top, x, bottom, fine);
                    }
                }
            }
        }
        for m in first_min..=last_min {
            let t = m * 60_000;
            if t < self.start_ms || t > self.start_ms + self.duration_ms {
                continue;
            }
            let x = self.x_of(t).round() + 0.5;
            let s = if m % 10 == 0 { ten_min } else { major };
            for (top, bottom) in panels {
                line(pm, x, top, x, bottom, s);
            }
            // Minute numbers under the TOCO panel; bold every 10 min.
            let label = m.to_string();
            let scale = if m % 10 == 0 { 2 } else { 1 };
            if m % 10 == 0 || self.layout.px_per_min >= 30.0 {
                let w = text_width(&label, scale);
                draw_text(pm, x - w / 2.0, self.toco_bottom() + 6.0, &label, scale, Rgba::PRINT);
            }
        }
        // Panel frames.
        for (top, bottom) in panels {
            let frame = Stroke::new(Rgba::GRID_MAJOR, 1.5);
            line(pm, left, top, right, top, frame);
            line(pm, left, bottom, right, bottom, frame);
            line(pm, left, top, left, bottom, frame);
            line(pm, right, top, right, bottom, frame);
        }
        // Scale numbers in both margins and, as printed on paper, every 10 minutes inside.
        let mut scale_columns = vec![(left - 4.0, true), (right + 5.0, false)];
        for m in first_min..=last_min {
            let t = m * 60_000;
            if m % 10 == 5 && self.x_of(t) + 40.0 < right {
                scale_columns.push((self.x_of(t) + 4.0, false));
            }
        }
        for (x, align_right) in scale_columns {
            for v in (60..=210).step_by(30) {
                let text = v.to_string();
                let y = self.y_of(Panel::Fhr, v as f32) - 3.5;
                let x = if align_right { x - text_width(&text, 1) } else { x };
                text_on_paper(pm, x, y, &text);
            }
            for v in (0..=100).step_by(20) {
                let text = v.to_string();
                let y = (self.y_of(Panel::Toco, v as f32) - 3.5).min(self.toco_bottom() - 9.0);
                let x = if align_right { x - text_width(&text, 1) } else { x };
                text_on_paper(pm, x, y, &text);
            }
        }
        // Units and channel names.
        draw_text(pm, 4.0, self.fhr_top() + 2.0, "BPM", 1, Rgba::PRINT);
        draw_text(pm, 4.0, self.toco_top() + 2.0, "UA", 1, Rgba::PRINT);
        draw_text(pm, 4.0, self.band_top() + 9.0, "FM", 1, Rgba::PRINT);
        draw_text(pm, 4.0, self.toco_bottom() + 8.0, "MIN", 1, Rgba::PRINT);
    }

    fn draw_trace(&self, pm: &mut Pixmap, panel: Panel, s: &Series, stroke: Stroke) {
        let (top, bottom) = self.panel_bounds(Some(panel));
        let mut pb = PathBuilder::new();
        let mut run = 0usize;
        let mut last = (0.0f32, 0.0f32);
        let mut dots = Vec::new();
        for (i, v) in s.values.iter().enumerate() {
            let t = s.start_ms + i as i64 * s.period_ms;
            let in_view = t >= self.start_ms && t <= self.start_ms + self.duration_ms;
            match v.filter(|v| v.is_finite()) {
                Some(v) if in_view => {
                    let (x, y) = (self.x_of(t), self.y_of(panel, v).clamp(top, bottom));
                    if run == 0 {
                        pb.move_to(x, y);
                    } else {
                        pb.line_to(x, y);
                    }
                    last = (x, y);
                    run += 1;
                }
                _ => {
                    if run == 1 {
                        dots.push(last);
                    }
                    run = 0;
                }
            }
        }
        if run == 1 {
            dots.push(last);
        }
        if let Some(path) = pb.finish() {
            stroke_path(pm, &path, stroke);
        }
        // A lone sample between two gaps is still a measurement: show it as a dot.
        for (x, y) in dots {
            fill_rect(
                pm,
                x - stroke.width,
                y - stroke.width,
                2.0 * stroke.width,
                2.0 * stroke.width,
                stroke.color,
            );
        }
    }
}

fn stroke_path(pm: &mut Pixmap, path: &tiny_skia::Path, s: Stroke) {
    let mut st = tiny_skia::Stroke {
        width: s.width,
        line_cap: LineCap::Butt,
        line_join: LineJoin::Round,
        ..Default::default()
    };
    if s.dashed {
        st.dash = StrokeDash::new(vec![6.0, 4.0], 0.0);
    }
    pm.stroke_path(path, &s.color.paint(), &st, Transform::identity(), None);
}

fn line(pm: &mut Pixmap, x0: f32, y0: f32, x1: f32, y1: f32, s: Stroke) {
    let mut pb = PathBuilder::new();
    pb.move_to(x0, y0);
    pb.line_to(x1, y1);
    if let Some(p) = pb.finish() {
        stroke_path(pm, &p, s);
    }
}

fn fill_rect(pm: &mut Pixmap, x: f32, y: f32, w: f32, h: f32, c: Rgba) {
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        let mut p = c.paint();
        p.anti_alias = false;
        pm.fill_rect(r, &p, Transform::identity(), None);
    }
}

fn text_width(text: &str, scale: u32) -> f32 {
    (text.chars().count() as f32 * 6.0 - 1.0).max(0.0) * scale as f32
}

/// Scale numbers printed on the paper: on a small white patch so grid lines do not cut them.
fn text_on_paper(pm: &mut Pixmap, x: f32, y: f32, text: &str) {
    fill_rect(pm, x - 1.0, y - 1.0, text_width(text, 1) + 2.0, 9.0, Rgba::WHITE);
    draw_text(pm, x, y, text, 1, Rgba::PRINT);
}

/// A label on a translucent white box, readable over traces.
fn text_boxed(pm: &mut Pixmap, x: f32, y: f32, text: &str, scale: u32, color: Rgba) {
    let s = scale as f32;
    fill_rect(
        pm,
        x - 2.0,
        y - 2.0,
        text_width(text, scale) + 4.0,
        7.0 * s + 4.0,
        Rgba::new(255, 255, 255, 210),
    );
    draw_text(pm, x, y, text, scale, color);
}

/// Draws text with the built-in 5×7 font, top-left at (x, y), each font pixel `scale` px.
fn draw_text(pm: &mut Pixmap, x: f32, y: f32, text: &str, scale: u32, color: Rgba) {
    let s = scale as f32;
    let mut paint = color.paint();
    paint.anti_alias = false;
    let (x, y) = (x.round(), y.round());
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        let gx = x + i as f32 * 6.0 * s;
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..5 {
                if bits & (0x10 >> c) != 0
                    && let Some(rect) = Rect::from_xywh(gx + c as f32 * s, y + r as f32 * s, s, s)
                {
                    pm.fill_rect(rect, &paint, Transform::identity(), None);
                }
            }
        }
    }
}

/// 5×7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        ';' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '\'' => [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '"' => [0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '*' => [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04],
        '×' => [0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00],
        '≥' => [0x08, 0x04, 0x02, 0x04, 0x08, 0x00, 0x1F],
        '≤' => [0x02, 0x04, 0x08, 0x04, 0x02, 0x00, 0x1F],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printable_ascii_character_has_a_glyph() {
        let unknown = glyph('\u{3042}');
        for c in (b' '..=b'~').map(char::from) {
            if "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -+=.,:;/%()[]<>_'\"#*!".contains(c) {
                assert!(c == '?' || glyph(c) != unknown, "{c:?}");
            }
        }
    }

    #[test]
    fn empty_and_huge_strips_are_errors() {
        assert!(matches!(CtgPlot::new(0).render(), Err(PlotError::Empty)));
        assert!(matches!(CtgPlot::new(24 * 3_600_000).render(), Err(PlotError::TooLarge { .. })));
    }
}
