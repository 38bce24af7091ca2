//! Phase timings on stderr when `DATASURFACE_TIMINGS` is set, for profiling big models.

use std::time::Instant;

pub struct Timer {
    enabled: bool,
    last: Instant,
}

impl Timer {
    pub fn new() -> Timer {
        Timer { enabled: std::env::var_os("DATASURFACE_TIMINGS").is_some(), last: Instant::now() }
    }

    /// Prints how long since the previous mark, labelled `phase`.
    pub fn mark(&mut self, phase: &str) {
        if self.enabled {
            let now = Instant::now();
            eprintln!("timing: {phase:<12} {:>8.1} ms", (now - self.last).as_secs_f64() * 1000.0);
            self.last = now;
        }
    }
}

impl Default for Timer {
    fn default() -> Self {
        Timer::new()
    }
}
