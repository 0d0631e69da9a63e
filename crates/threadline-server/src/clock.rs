//! The time background work goes by. It is the system clock; tests move it
//! forward ([`Clock::advance`]) to see what an hour or a day later does,
//! instead of waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

#[derive(Debug, Default)]
pub struct Clock {
    offset_micros: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        threadline_store::now() + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Moves this process's clock forward (tests only change it).
    pub fn advance(&self, by: Duration) {
        self.offset_micros.fetch_add(by.whole_microseconds() as i64, Ordering::Relaxed);
    }
}
