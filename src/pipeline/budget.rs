//! How many frames each of a stream's queues may hold, and how many decoded pictures the stream
//! may hold at all. Counts alone let memory grow with the resolution (a 4K frame is 25 MB: the
//! same queues that hold 30 MB of VGA frames held 900 MB of 4K ones), so the counts are derived
//! from budgets of bytes per stream and the frame size.
//!
//! The queues bound what waits between stages; the picture slots bound everything else too —
//! the frame being decoded, the ones in the detectors, the tracker's re-order buffer and the
//! outputs that draw: capture takes a slot before it decodes, and the slot comes back when the
//! last holder drops the picture.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::frame::PictureSlot;

/// Decoded pictures one stream may hold in its queues between its capture and its outputs.
pub const STREAM_FRAME_BYTES: usize = 96 << 20;

/// Decoded pictures one stream may hold anywhere, at least `MIN_PICTURES`: decoding the next
/// frame while the detector and an output work on earlier ones keeps every stage busy.
pub const STREAM_PICTURE_BYTES: usize = 32 << 20;
const MIN_PICTURES: usize = 3;

/// Used when a live source has not told its size yet (it connects lazily): a 1080p camera.
const ASSUMED_FRAME_BYTES: usize = 1920 * 1080 * 3;

/// Frames a file stream may queue for the detectors at most; live streams keep only the newest
/// one, so what gets detected is always the latest picture.
const FILE_QUEUE: usize = 4;
const LIVE_QUEUE: usize = 1;
/// Lossless outputs that need the picture may fall this many frames behind at most.
const IMAGE_SINK_QUEUE: usize = 8;

/// The queue sizes of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Frames waiting for a detector.
    pub queue: usize,
    /// Frames between the detectors and the stream's tracker.
    pub in_flight: usize,
    /// Frames waiting for each output that draws on the picture. Outputs that need no picture
    /// get frames without it, and queue by count alone.
    pub image_sink: usize,
    /// Decoded pictures alive at once, wherever they are.
    pub pictures: usize,
}

/// `width`×`height` BGR frames (0 when not known yet), `workers` detectors shared by all streams;
/// `held_back` frames that an output lag keeps (they must all fit, or the lag would wait forever
/// for a frame that has no slot to be decoded into).
pub fn limits(width: i32, height: i32, live: bool, workers: usize, held_back: usize) -> Limits {
    let known = width > 0 && height > 0;
    let frame_bytes = if known {
        (width as usize)
            .saturating_mul(height as usize)
            .saturating_mul(3)
    } else {
        ASSUMED_FRAME_BYTES
    };
    let frames = (STREAM_FRAME_BYTES / frame_bytes).max(1);
    // Two per worker keeps every worker busy on this stream alone; frames so large that the
    // budget holds few of them take longer to decode than to detect, so one in flight is enough.
    let most_in_flight = 2 * workers + 2;
    Limits {
        queue: if live {
            LIVE_QUEUE
        } else {
            (frames / 4).clamp(1, FILE_QUEUE)
        },
        in_flight: (frames / 4).clamp(1, most_in_flight),
        image_sink: (frames / 4).clamp(1, IMAGE_SINK_QUEUE),
        pictures: (STREAM_PICTURE_BYTES / frame_bytes).max(MIN_PICTURES) + held_back,
    }
}

/// How long a capture waiting for a slot sleeps before it looks at the stop flag again.
const POLL: Duration = Duration::from_millis(50);

/// One stream's picture slots.
pub struct PictureSlots {
    free: Mutex<usize>,
    given_back: Condvar,
}

impl PictureSlots {
    pub fn new(count: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(count.max(1)),
            given_back: Condvar::new(),
        })
    }

    /// Waits for a free slot (files: nothing is dropped); `None` once `stop` is set.
    pub fn take(self: &Arc<Self>, stop: &AtomicBool) -> Option<PictureSlot> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            free = self
                .given_back
                .wait_timeout(free, POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(self.claim(&mut free))
    }

    /// A slot if one is free now (live sources, which read on regardless to stay current).
    pub fn try_take(self: &Arc<Self>) -> Option<PictureSlot> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        (*free > 0).then(|| self.claim(&mut free))
    }

    /// One of the `free` slots (at least one), counted out.
    fn claim(self: &Arc<Self>, free: &mut usize) -> PictureSlot {
        *free -= 1;
        let slots = self.clone();
        PictureSlot::new(move || {
            *slots.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            slots.given_back.notify_one();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_held(l: Limits, w: i32, h: i32, image_sinks: usize) -> usize {
        (l.queue + l.in_flight + image_sinks * l.image_sink) * (w * h * 3) as usize
    }

    #[test]
    fn small_frames_keep_the_full_queues() {
        let l = limits(768, 576, false, 2, 0);
        assert_eq!(
            l,
            Limits {
                queue: 4,
                in_flight: 6,
                image_sink: 8,
                pictures: 25
            }
        );
        assert_eq!(limits(768, 576, true, 2, 0).queue, 1);
    }

    #[test]
    fn large_frames_queue_fewer_within_the_budget() {
        let l = limits(3840, 2160, false, 2, 0);
        assert_eq!(
            l,
            Limits {
                queue: 1,
                in_flight: 1,
                image_sink: 1,
                pictures: 3
            }
        );
        assert!(bytes_held(l, 3840, 2160, 1) <= STREAM_FRAME_BYTES);
        let l = limits(1920, 1080, false, 2, 0);
        assert!(bytes_held(l, 1920, 1080, 1) <= STREAM_FRAME_BYTES);
        assert!(l.in_flight >= 2, "both workers busy at 1080p: {l:?}");
    }

    #[test]
    fn pictures_fit_the_budget_and_what_a_lag_holds_back() {
        let hd = limits(1920, 1080, false, 2, 0);
        assert_eq!(hd.pictures, 5);
        assert!(hd.pictures * 1920 * 1080 * 3 <= STREAM_PICTURE_BYTES);
        assert_eq!(limits(1920, 1080, false, 2, 16).pictures, 21);
    }

    #[test]
    fn slots_come_back_when_their_pictures_go() {
        let slots = PictureSlots::new(2);
        let stop = AtomicBool::new(false);
        let a = slots.take(&stop).unwrap();
        let b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none(), "both taken");
        drop(a);
        let c = slots.try_take().unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(slots.take(&stop).is_none(), "a stop ends the wait");
        drop((b, c));
        assert!(slots.take(&stop).is_some());
    }

    #[test]
    fn an_unknown_or_absurd_size_still_gives_working_queues() {
        assert_eq!(limits(0, 0, true, 2, 0), limits(1920, 1080, true, 2, 0));
        let l = limits(i32::MAX, i32::MAX, false, 8, 0);
        assert_eq!(
            l,
            Limits {
                queue: 1,
                in_flight: 1,
                image_sink: 1,
                pictures: 3
            }
        );
    }
}
