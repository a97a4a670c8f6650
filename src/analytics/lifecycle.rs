//! track_started / track_ended events from the sequence of tracked frames. (Stub: being written.)

use crate::frame::{Event, Track};

/// Follows which track IDs are alive and reports when one starts and when one ends.
pub struct Lifecycle {
    _end_after_s: f64,
}

impl Lifecycle {
    /// `end_after_s`: a track unseen for longer than this has ended (the tracker's lost timeout
    /// plus its coasting, so a track the tracker may still re-find is never ended early).
    pub fn new(end_after_s: f64) -> Self {
        Self {
            _end_after_s: end_after_s,
        }
    }

    /// The events decided on this frame.
    pub fn update(&mut self, _pts_ms: f64, _tracks: &[Track]) -> Vec<Event> {
        Vec::new()
    }

    /// At the end of the stream: every track still alive ends.
    pub fn finish(&mut self) -> Vec<Event> {
        Vec::new()
    }
}
