//! Rendering without a display: a Slint platform with software-rendered windows and a plain event
//! loop, for `--screenshots`, the start-up benchmark and anything else that must run where no
//! display server exists. The pixels are the software renderer's, as on a phone.

use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{EventLoopProxy, Platform, WindowAdapter, WindowEvent};
use slint::{EventLoopError, PhysicalSize, PlatformError, Rgba8Pixel, SharedPixelBuffer};

/// The phone-sized window the screenshots use (logical pixels).
pub const PHONE_WIDTH: u32 = 390;
pub const PHONE_HEIGHT: u32 = 844;

enum Event {
    Quit,
    Run(Box<dyn FnOnce() + Send>),
}

#[derive(Default)]
struct Queue {
    events: Mutex<VecDeque<Event>>,
    wake: Condvar,
}

impl Queue {
    fn push(&self, e: Event) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push_back(e);
        self.wake.notify_one();
    }
}

struct Proxy(Arc<Queue>);

impl EventLoopProxy for Proxy {
    fn quit_event_loop(&self) -> Result<(), EventLoopError> {
        self.0.push(Event::Quit);
        Ok(())
    }

    fn invoke_from_event_loop(
        &self,
        event: Box<dyn FnOnce() + Send>,
    ) -> Result<(), EventLoopError> {
        self.0.push(Event::Run(event));
        Ok(())
    }
}

/// A platform whose windows render only into memory.
pub struct HeadlessPlatform {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for HeadlessPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessPlatform").finish_non_exhaustive()
    }
}

thread_local! {
    /// The most recently created window, for callers that render frames themselves.
    static LAST_WINDOW: std::cell::RefCell<Option<std::rc::Weak<MinimalSoftwareWindow>>> =
        const { std::cell::RefCell::new(None) };
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        window.set_size(PhysicalSize::new(PHONE_WIDTH, PHONE_HEIGHT));
        LAST_WINDOW.with(|w| *w.borrow_mut() = Some(Rc::downgrade(&window)));
        Ok(window)
    }

    fn run_event_loop(&self) -> Result<(), PlatformError> {
        // Slint asks to quit whenever the last window is hidden; with no loop running then, that
        // request is stale and must not end this one.
        self.queue
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|e| !matches!(e, Event::Quit));
        loop {
            slint::platform::update_timers_and_animations();
            let next = self.queue.events.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
            match next {
                Some(Event::Quit) => return Ok(()),
                Some(Event::Run(f)) => f(),
                None => {
                    let wait = slint::platform::duration_until_next_timer_update()
                        .unwrap_or(Duration::from_millis(100));
                    let events = self.queue.events.lock().unwrap_or_else(|p| p.into_inner());
                    if events.is_empty() {
                        // Woken early by a new event; otherwise when the next timer is due.
                        let _ = self.queue.wake.wait_timeout(events, wait);
                    }
                }
            }
        }
    }

    fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
        Some(Box::new(Proxy(self.queue.clone())))
    }
}

/// Makes the headless platform the process's Slint platform. Call once, before creating any
/// component.
pub fn install() -> Result<(), PlatformError> {
    slint::platform::set_platform(Box::new(HeadlessPlatform { queue: Arc::default() }))
        .map_err(|e| PlatformError::Other(format!("cannot install the headless platform: {e}")))
}

/// Sizes a window to the phone screen at `scale` device pixels per logical pixel.
pub fn size_window(window: &slint::Window, scale: f32) {
    window.dispatch_event(WindowEvent::ScaleFactorChanged { scale_factor: scale });
    window.set_size(PhysicalSize::new(
        (PHONE_WIDTH as f32 * scale).round() as u32,
        (PHONE_HEIGHT as f32 * scale).round() as u32,
    ));
}

/// Runs the event loop until `done` holds or `timeout` passes; returns whether it held. Works on
/// any platform with an event loop (this one, the testing backend).
pub fn run_until(
    done: impl Fn() -> bool + 'static,
    timeout: Duration,
) -> Result<bool, PlatformError> {
    if done() {
        return Ok(true);
    }
    let start = Instant::now();
    let held = Rc::new(std::cell::Cell::new(false));
    let timer = slint::Timer::default();
    let flag = held.clone();
    timer.start(slint::TimerMode::Repeated, Duration::from_millis(2), move || {
        if done() {
            flag.set(true);
            let _ = slint::quit_event_loop();
        } else if start.elapsed() > timeout {
            let _ = slint::quit_event_loop();
        }
    });
    // A quit requested earlier (Slint asks for one whenever the last window is hidden) may still be
    // queued on some platforms: keep running until the condition or the deadline decides.
    loop {
        slint::run_event_loop_until_quit()?;
        if held.get() || start.elapsed() > timeout {
            return Ok(held.get());
        }
    }
}

/// Renders one full frame of the most recently created window into `buffer` (RGB, one row of
/// `width` pixels after another) and returns whether there was a window to render. Every call
/// repaints everything (no partial updates), which is what a frame costs at worst.
pub fn render_full_frame(buffer: &mut [slint::Rgb8Pixel], width: usize) -> bool {
    let Some(window) = LAST_WINDOW.with(|w| w.borrow().as_ref().and_then(std::rc::Weak::upgrade))
    else {
        return false;
    };
    window.request_redraw();
    window.draw_if_needed(|renderer| {
        renderer.render(buffer, width);
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("empty image")]
    Empty,
    #[error("cannot encode or write {path}: {message}")]
    Write { path: String, message: String },
}

/// Writes a snapshot as PNG.
pub fn save_png(image: &SharedPixelBuffer<Rgba8Pixel>, path: &Path) -> Result<(), PngError> {
    let size = tiny_skia::IntSize::from_wh(image.width(), image.height()).ok_or(PngError::Empty)?;
    // Screens are opaque, so straight and premultiplied alpha are the same bytes.
    let pixmap =
        tiny_skia::Pixmap::from_vec(image.as_bytes().to_vec(), size).ok_or(PngError::Empty)?;
    pixmap
        .save_png(path)
        .map_err(|e| PngError::Write { path: path.display().to_string(), message: e.to_string() })
}
