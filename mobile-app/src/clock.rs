//! Time is passed in: controllers ask a [`Clock`], so tests and demonstration screenshots run at a
//! fixed moment and the phone's real clock is read in one place.

use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Local};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in the phone's current UTC offset.
    fn now(&self) -> DateTime<FixedOffset>;
}

/// The phone's clock and time zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<FixedOffset> {
        Local::now().fixed_offset()
    }
}

/// A clock that shows a set time until moved.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<FixedOffset>>);

impl FixedClock {
    pub fn new(at: DateTime<FixedOffset>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<FixedOffset>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<FixedOffset> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
