//! Timed spans for the operations a user waits for.
//!
//! An operation opens its span with every field it will fill in declared up front
//! (`tracing` ignores a field recorded on a span that did not declare it, so each
//! declares `duration_ms = Empty` and its counts), runs inside it, and records
//! `duration_ms` when it ends, so even a plain fmt subscriber shows how long it took.
//! With no subscriber interested, the span is disabled and not even the clock is read.

use std::time::Instant;
use tracing::Span;

/// A span that records its `duration_ms` when dropped.
pub(crate) struct Timed {
    span: Span,
    started: Option<Instant>,
}

impl Timed {
    /// Starts timing `span` (which must declare `duration_ms`).
    pub(crate) fn new(span: Span) -> Self {
        let started = (!span.is_disabled()).then(Instant::now);
        Timed { span, started }
    }

    /// Runs `work` inside the span; `work` records its counts on the span it is given.
    pub(crate) fn run<T>(self, work: impl FnOnce(&Span) -> T) -> T {
        let _entered = self.span.enter();
        work(&self.span)
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        if let Some(started) = self.started {
            // Whole microseconds, so the milliseconds print without float noise.
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.span.record("duration_ms", micros as f64 / 1e3);
        }
    }
}
