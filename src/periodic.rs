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
    use std::sync::mpsc;
    use std::sync::Mutex;

    /// Far longer than any of these steps takes, however loaded the machine: a test fails on
    /// this deadline only when the thing it waits for never happens.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// A periodic whose ticks record when they ran.
    fn recording(every: Duration) -> (Periodic, Arc<Mutex<Vec<Instant>>>) {
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let seen = ticks.clone();
        let periodic = Periodic::start("test", every, move || {
            seen.lock().unwrap().push(Instant::now());
        })
        .unwrap();
        (periodic, ticks)
    }

    fn wait_for_ticks(ticks: &Mutex<Vec<Instant>>, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while ticks.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "fewer than {n} ticks");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Drops `periodic` on another thread; fails if the drop has not returned by the deadline.
    fn drop_returns(periodic: Periodic) {
        let (done, dropped) = mpsc::channel();
        thread::spawn(move || {
            drop(periodic);
            let _ = done.send(());
        });
        dropped
            .recv_timeout(PATIENCE)
            .expect("the drop returns rather than wait on the thread");
    }

    #[test]
    fn ticks_at_its_interval_never_sooner_and_stops_when_dropped() {
        let every = Duration::from_millis(50);
        let started = Instant::now();
        let (periodic, ticks) = recording(every);
        wait_for_ticks(&ticks, 4);
        drop_returns(periodic);
        // The drop joined the thread, so its closure (the other holder of `ticks`) is gone: no
        // tick can come after it.
        assert_eq!(Arc::strong_count(&ticks), 1, "the thread outlived the drop");
        let ticks = ticks.lock().unwrap();
        // Tick k runs no sooner than k intervals after the start; a slow machine only makes it
        // later.
        for (k, t) in ticks.iter().enumerate() {
            let since = t.duration_since(started);
            assert!(since >= every * k as u32, "tick {k} after {since:?}");
        }
    }

    #[test]
    fn the_first_tick_comes_at_once_and_a_drop_does_not_wait_out_the_interval() {
        // An hour's interval: a first tick within the deadline came at once, and a drop that
        // returns within it did not wait for the next tick.
        let (periodic, ticks) = recording(Duration::from_secs(3600));
        wait_for_ticks(&ticks, 1);
        drop_returns(periodic);
        assert_eq!(ticks.lock().unwrap().len(), 1);
    }
}
