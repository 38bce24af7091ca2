//! What a long run is doing, for the progress line the command line shows on a terminal:
//! the phase and, while files are read, how many of how many. Counters only; nothing here
//! prints, and nothing reads them but `cli`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

static PHASE: Mutex<&'static str> = Mutex::new("");
static DONE: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// A new phase (`reading base`, `linting`); `total` files to read in it, or 0.
pub fn phase(name: &'static str, total: usize) {
    if let Ok(mut phase) = PHASE.lock() {
        *phase = name;
    }
    DONE.store(0, Ordering::Relaxed);
    TOTAL.store(total, Ordering::Relaxed);
}

/// One more file read.
pub fn file_read() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// The current phase, files done and files in all.
pub fn now() -> (&'static str, usize, usize) {
    let phase = PHASE.lock().map(|p| *p).unwrap_or("");
    (phase, DONE.load(Ordering::Relaxed), TOTAL.load(Ordering::Relaxed))
}
