//! The bounded queue between the cameras' sinks and the connection thread, and what they share
//! with it: the stop request, whether the broker is connected, and every camera to tell of an
//! outage.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::metrics::CameraMetrics;

/// Who queued a message: its drops are counted against that camera.
pub(super) struct Origin {
    pub(super) camera: String,
    pub(super) metrics: CameraMetrics,
}

impl Origin {
    pub(super) fn report(&self, message: &str) {
        self.metrics.sink_error("mqtt");
        self.metrics.health.report_error(message);
    }
}

pub(super) struct Message {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    /// A track snapshot: only the latest of a camera is worth sending.
    pub(super) snapshot: bool,
    pub(super) origin: Arc<Origin>,
}

impl Message {
    fn drop_counted(self) {
        self.origin.metrics.events_dropped("mqtt", 1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Stop {
    Running,
    /// Deliver what is queued until this instant, then disconnect.
    Drain(Instant),
    /// Disconnect at once.
    Now,
}

/// The queue between the sinks and the connection thread.
pub(super) struct Outbox {
    pub(super) queue: VecDeque<Message>,
    capacity: usize,
    pub(super) stop: Stop,
    /// The connection thread has stopped.
    pub(super) finished: bool,
    /// Overflow has been logged since the queue last emptied.
    warned: bool,
}

impl Outbox {
    fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity,
            stop: Stop::Running,
            finished: false,
            warned: false,
        }
    }

    /// Queues a message; returns the one that had to go to keep within the bound, if any.
    ///
    /// A newer snapshot replaces its camera's queued one (not counted: nothing of the present
    /// is lost). When full, the oldest snapshot goes first, since a newer one will follow; with
    /// none queued, a new snapshot is refused rather than push out an event; otherwise the oldest
    /// event goes.
    fn push(&mut self, message: Message) -> Option<Message> {
        if message.snapshot {
            let stale = self
                .queue
                .iter()
                .position(|m| m.snapshot && Arc::ptr_eq(&m.origin, &message.origin));
            if let Some(i) = stale {
                self.queue.remove(i);
                self.queue.push_back(message);
                return None;
            }
        }
        if self.queue.len() < self.capacity {
            self.queue.push_back(message);
            return None;
        }
        let victim = match self.queue.iter().position(|m| m.snapshot) {
            Some(i) => self.queue.remove(i),
            None if message.snapshot => return Some(message),
            None => self.queue.pop_front(),
        };
        self.queue.push_back(message);
        victim
    }

    fn pop(&mut self) -> Option<Message> {
        let message = self.queue.pop_front();
        if self.queue.is_empty() {
            self.warned = false;
        }
        message
    }
}

/// What the sinks, the publisher handle and the connection thread share.
pub(super) struct Shared {
    pub(super) outbox: Mutex<Outbox>,
    /// Wakes the thread from a backoff when asked to stop, and `shutdown` when the thread is done.
    pub(super) signal: Condvar,
    pub(super) connected: AtomicBool,
    /// Every camera's sink, to report the connection's troubles in each camera's health.
    origins: Mutex<Origins>,
}

#[derive(Default)]
struct Origins {
    live: Vec<Weak<Origin>>,
    /// Why the broker cannot be reached, while it cannot: told to sinks created meanwhile too.
    trouble: Option<String>,
}

impl Shared {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            outbox: Mutex::new(Outbox::new(capacity)),
            signal: Condvar::new(),
            connected: AtomicBool::new(false),
            origins: Mutex::new(Origins::default()),
        }
    }

    pub(super) fn push(&self, message: Message) {
        let mut o = lock(&self.outbox);
        if o.finished {
            drop(o);
            message.drop_counted();
            return;
        }
        let Some(dropped) = o.push(message) else {
            return;
        };
        let first = !o.warned;
        o.warned = true;
        let capacity = o.capacity;
        drop(o);
        if first {
            tracing::warn!(
                camera = dropped.origin.camera,
                "MQTT: {capacity} messages queued; dropping the oldest until the broker catches up"
            );
        }
        dropped.drop_counted();
    }

    pub(super) fn pop(&self) -> Option<Message> {
        lock(&self.outbox).pop()
    }

    /// Ends the queue: what is left is counted as dropped. Returns how many.
    pub(super) fn close(&self) -> usize {
        let left: Vec<Message> = {
            let mut o = lock(&self.outbox);
            o.finished = true;
            self.signal.notify_all();
            o.queue.drain(..).collect()
        };
        let n = left.len();
        left.into_iter().for_each(Message::drop_counted);
        n
    }

    pub(super) fn register(&self, origin: &Arc<Origin>) {
        let mut origins = lock(&self.origins);
        origins.live.retain(|w| w.strong_count() > 0);
        origins.live.push(Arc::downgrade(origin));
        if let Some(message) = &origins.trouble {
            origin.report(message);
        }
    }

    /// Tells every camera, once per outage, that the broker is unreachable (`None`: reached).
    pub(super) fn set_trouble(&self, trouble: Option<String>) {
        let mut origins = lock(&self.origins);
        if let Some(message) = &trouble {
            for origin in origins.live.iter().filter_map(Weak::upgrade) {
                origin.report(message);
            }
        }
        origins.trouble = trouble;
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn wait_on<'a, T>(c: &Condvar, g: MutexGuard<'a, T>, d: Duration) -> MutexGuard<'a, T> {
    c.wait_timeout(g, d).unwrap_or_else(|p| p.into_inner()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn origin(name: &str, metrics: &Metrics) -> Arc<Origin> {
        Arc::new(Origin {
            camera: name.into(),
            metrics: metrics.camera(name),
        })
    }

    fn message(origin: &Arc<Origin>, topic: &str, snapshot: bool) -> Message {
        Message {
            topic: topic.into(),
            payload: Vec::new(),
            snapshot,
            origin: origin.clone(),
        }
    }

    fn topics(o: &Outbox) -> Vec<&str> {
        o.queue.iter().map(|m| m.topic.as_str()).collect()
    }

    #[test]
    fn a_newer_snapshot_replaces_its_cameras_queued_one() {
        let m = Metrics::new().unwrap();
        let (a, b) = (origin("a", &m), origin("b", &m));
        let mut o = Outbox::new(10);
        assert!(o.push(message(&a, "a1", true)).is_none());
        assert!(o.push(message(&b, "b1", true)).is_none());
        assert!(o.push(message(&a, "e", false)).is_none());
        assert!(o.push(message(&a, "a2", true)).is_none());
        assert_eq!(topics(&o), ["b1", "e", "a2"]);
    }

    #[test]
    fn when_full_snapshots_go_before_events_and_events_oldest_first() {
        let m = Metrics::new().unwrap();
        let (a, b) = (origin("a", &m), origin("b", &m));
        let mut o = Outbox::new(3);
        o.push(message(&a, "e1", false));
        o.push(message(&b, "snap", true));
        o.push(message(&a, "e2", false));
        assert_eq!(o.push(message(&a, "e3", false)).unwrap().topic, "snap");
        assert_eq!(o.push(message(&a, "e4", false)).unwrap().topic, "e1");
        // A snapshot never pushes out an event: it is refused instead.
        assert_eq!(o.push(message(&a, "snap2", true)).unwrap().topic, "snap2");
        assert_eq!(topics(&o), ["e2", "e3", "e4"]);
    }
}
