//! Timed spans for the operations a user waits for.
//!
//! An operation opens its span with every field it will fill in declared up front
//! (`tracing` ignores a field recorded on a span that did not declare it, so each
//! declares `duration_ms = Empty` and its counts), runs inside it, and records
//! `duration_ms` when it ends, so even a plain fmt subscriber shows how long it took,
//! and `error` when it failed.
//! With no subscriber interested, the span is disabled and not even the clock is read.

use crate::store::{DatabaseErrorKind, StorageError, StorageResult};
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
    /// A failure is recorded too (the span must declare `error`), see [`failed`].
    pub(crate) fn run<T>(self, work: impl FnOnce(&Span) -> StorageResult<T>) -> StorageResult<T> {
        let _entered = self.span.enter();
        let done = work(&self.span);
        if let Err(e) = &done {
            failed(&self.span, e);
        }
        done
    }
}

/// A failed operation says why on its span's `error`, so a trace tells it from one
/// that succeeded. What a caller cannot have expected (damaged data, a full disk, a
/// database or connection that failed) is also a WARN event, naming the operation's
/// span; refusals a caller acts on (not found, rejected, busy, read-only, a
/// constraint, a grant) stay at DEBUG, so a service's normal traffic logs nothing.
fn failed(span: &Span, e: &StorageError) {
    span.record("error", tracing::field::display(e));
    let unexpected = match e {
        StorageError::Corrupt { .. } | StorageError::Full | StorageError::Migration(_) => true,
        StorageError::Database { kind, .. } => !matches!(
            kind,
            DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::PermissionDenied
        ),
        _ => false,
    };
    if unexpected {
        tracing::warn!(error = %e, "the operation failed");
    } else {
        tracing::debug!(error = %e, "the operation was refused");
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
