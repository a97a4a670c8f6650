//! From a stream's tracker to its sinks: one bounded channel and one thread per sink, each
//! channel sized and served by the sink's policy (a lossless file waits, a network output drops).

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::error::Result;
use crate::frame::{StreamEnd, TrackedFrame};
use crate::metrics::{CameraMetrics, Metrics};
use crate::sink::{Sink, SinkPolicy};

/// Outputs that need no picture (files of tracks, network messages) may fall this many frames
/// behind: what they are sent is small.
pub(super) const LOSSLESS_QUEUE: usize = 8;
pub(super) const NEVER_BLOCK_QUEUE: usize = 64;

/// What a sink thread receives: every frame, and the events of tracks ended between frames
/// (after an outage of the source, at the end, or when the camera is removed).
pub(super) enum ToSink {
    Frame(Arc<TrackedFrame>),
    End(Arc<StreamEnd>),
}

/// The tracker's end of one sink's channel.
pub(super) struct SinkLink {
    pub tx: Sender<ToSink>,
    pub policy: SinkPolicy,
    pub kind: &'static str,
    /// Sinks that draw get the picture; the others a copy of the frame without it.
    pub needs_image: bool,
}

impl SinkLink {
    /// A sink's channel, sized for its kind: drawing sinks get `image_queue` (bounded by the
    /// stream's picture budget).
    pub fn open(sink: &dyn Sink, image_queue: usize) -> (SinkLink, Receiver<ToSink>) {
        let (policy, kind, needs_image) = (sink.policy(), sink.kind(), sink.needs_image());
        let (tx, rx) = crossbeam_channel::bounded(match (needs_image, policy) {
            (true, _) => image_queue,
            (false, SinkPolicy::Lossless) => LOSSLESS_QUEUE,
            (false, SinkPolicy::NeverBlock) => NEVER_BLOCK_QUEUE,
        });
        let link = SinkLink {
            tx,
            policy,
            kind,
            needs_image,
        };
        (link, rx)
    }

    /// Hands a frame, or the events of ended tracks, to the sink as its policy says; false when
    /// a lossless sink has gone.
    pub fn send(&self, message: ToSink, metrics: &CameraMetrics) -> bool {
        match self.policy {
            SinkPolicy::Lossless => self.tx.send(message).is_ok(),
            SinkPolicy::NeverBlock => {
                if let Err(TrySendError::Full(_)) = self.tx.try_send(message) {
                    metrics.frame_skipped(self.kind);
                }
                true // a network output that went away never stops the stream
            }
        }
    }
}

/// Writes every frame to a sink and finalises it whether or not the stream ended cleanly.
pub(super) fn drain_into(
    sink: &mut dyn Sink,
    rx: &Receiver<ToSink>,
    registry: &Metrics,
) -> Result<()> {
    let stage = format!("output_{}", sink.kind());
    let mut result = Ok(());
    for message in rx {
        let started = Instant::now();
        result = match message {
            ToSink::Frame(mut frame) => match Arc::get_mut(&mut frame) {
                Some(owned) => sink.write_owned(owned),
                None => sink.write(&frame),
            },
            ToSink::End(end) => sink.write_end(&end),
        };
        registry.observe_stage(&stage, started.elapsed().as_secs_f64());
        if result.is_err() {
            break;
        }
    }
    let finished = sink.finish();
    tracing::debug!(sink = %sink.describe(), "finalised");
    result.and(finished)
}
