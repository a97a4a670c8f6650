//! A camera's state as its next owner needs it (cluster mode): the next track id, the live
//! tracks and what the analytics carry. The tracker thread leaves its newest state in a
//! one-deep channel a few times a second, replacing one nobody took, so it never waits; the
//! cluster's coordinator takes the newest each round and writes it to etcd.

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::analytics::Carried;
use crate::frame::Track;

/// How often the tracker thread leaves its state: well inside the coordinator's round (at most
/// a second), so what it writes is never older than a fraction of one.
const EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every id below it was used.
    pub next_id: u64,
    /// The tracker's live tracks.
    pub tracks: Vec<Track>,
    pub analytics: Carried,
}

/// The tracker thread's end of the channel.
#[derive(Clone, Debug)]
pub struct Snapshots {
    tx: Sender<Snapshot>,
    /// To drop the entry nobody took before leaving a newer one.
    stale: Receiver<Snapshot>,
    last: Option<Instant>,
}

/// A camera's snapshot channel: the tracker thread's end, and the reader's.
pub fn snapshots() -> (Snapshots, Receiver<Snapshot>) {
    let (tx, rx) = bounded(1);
    let ends = Snapshots {
        tx,
        stale: rx.clone(),
        last: None,
    };
    (ends, rx)
}

impl Snapshots {
    /// Leaves `make()`'s snapshot when one is due (built only then).
    pub fn offer(&mut self, make: impl FnOnce() -> Snapshot) {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.put(make());
    }

    /// Leaves this snapshot now, replacing one nobody took.
    pub fn put(&self, snapshot: Snapshot) {
        if let Err(TrySendError::Full(snapshot)) = self.tx.try_send(snapshot) {
            let _ = self.stale.try_recv();
            let _ = self.tx.try_send(snapshot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_gets_the_newest_and_the_writer_never_waits() {
        let (mut ends, rx) = snapshots();
        ends.offer(|| Snapshot {
            next_id: 1,
            ..Snapshot::default()
        });
        ends.offer(|| unreachable!("not due yet"));
        ends.put(Snapshot {
            next_id: 2,
            ..Snapshot::default()
        });
        ends.put(Snapshot {
            next_id: 3,
            ..Snapshot::default()
        });
        assert_eq!(rx.try_recv().unwrap().next_id, 3);
        assert!(rx.try_recv().is_err());
    }
}
