//! A background thread that does one thing at a fixed interval until it is dropped (the
//! adaptive detection budget, the daemon's retention).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often a waiting thread looks whether it is to stop, so a drop returns promptly.
const STOP_POLL: Duration = Duration::from_millis(100);

pub struct Periodic {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Runs `tick` at once, then every `every`, on a thread named `name`.
    pub fn start(
        name: &str,
        every: Duration,
        mut tick: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::Builder::new().name(name.into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let due = Instant::now() + every;
                tick();
                while !stopped.load(Ordering::Relaxed) && Instant::now() < due {
                    thread::sleep(STOP_POLL.min(due.saturating_duration_since(Instant::now())));
                }
            }
        })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn ticks_at_once_then_at_its_interval_and_stops_when_dropped() {
        let count = Arc::new(AtomicU32::new(0));
        let seen = count.clone();
        let started = Instant::now();
        let periodic = Periodic::start("test", Duration::from_millis(50), move || {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        thread::sleep(Duration::from_millis(130));
        drop(periodic);
        let ticks = count.load(Ordering::Relaxed);
        assert!((2..=4).contains(&ticks), "{ticks} ticks in 130 ms");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the drop waited"
        );
        thread::sleep(Duration::from_millis(100));
        assert_eq!(
            count.load(Ordering::Relaxed),
            ticks,
            "no tick after the drop"
        );
    }
}
