//! How long work tells its caller what it is doing. The core never prints: the binary implements
//! [`Reporter`] (log lines on stderr, progress bars on a terminal) and library callers pass
//! [`Silent`] or their own.

use std::sync::Arc;

/// Receives the log lines and byte counts of long work.
pub trait Reporter: Send + Sync {
    /// A step worth a line on stderr ("uploaded …", "preflight …").
    fn info(&self, message: &str);
    /// Something the user should look at; the work goes on.
    fn warn(&self, message: &str);
    /// A problem that stops the work, reported before the error is returned.
    fn error(&self, message: &str) {
        self.warn(message);
    }
    /// A line only `--verbose` shows.
    fn debug(&self, message: &str) {
        let _ = message;
    }
    /// A meter for `total` bytes of work on `label` (an upload, a download).
    fn bytes(&self, total: u64, label: &str) -> Arc<dyn Progress> {
        let _ = (total, label);
        Arc::new(NoProgress)
    }
}

/// One meter of byte-counted work.
pub trait Progress: Send + Sync {
    /// `n` more bytes are done.
    fn advance(&self, n: u64);
    /// The work starts over (a retried upload sends its bytes again).
    fn restart(&self);
    /// The work is over (done or abandoned).
    fn finish(&self);
}

/// A reporter that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn info(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}

/// A meter that draws nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _: u64) {}
    fn restart(&self) {}
    fn finish(&self) {}
}
