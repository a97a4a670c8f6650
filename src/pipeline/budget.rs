//! How many frames each of a stream's queues may hold. Counts alone let memory grow with the
//! resolution (a 4K frame is 25 MB: the same queues that hold 30 MB of VGA frames held 900 MB of
//! 4K ones), so the counts are derived from a budget of bytes per stream and the frame size.

/// Decoded pictures one stream may hold between its capture and its outputs.
pub const STREAM_FRAME_BYTES: usize = 96 << 20;

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
}

/// `width`×`height` BGR frames (0 when not known yet), `workers` detectors shared by all streams.
pub fn limits(width: i32, height: i32, live: bool, workers: usize) -> Limits {
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
        let l = limits(768, 576, false, 2);
        assert_eq!(
            l,
            Limits {
                queue: 4,
                in_flight: 6,
                image_sink: 8
            }
        );
        assert_eq!(limits(768, 576, true, 2).queue, 1);
    }

    #[test]
    fn large_frames_queue_fewer_within_the_budget() {
        let l = limits(3840, 2160, false, 2);
        assert_eq!(
            l,
            Limits {
                queue: 1,
                in_flight: 1,
                image_sink: 1
            }
        );
        assert!(bytes_held(l, 3840, 2160, 1) <= STREAM_FRAME_BYTES);
        let l = limits(1920, 1080, false, 2);
        assert!(bytes_held(l, 1920, 1080, 1) <= STREAM_FRAME_BYTES);
        assert!(l.in_flight >= 2, "both workers busy at 1080p: {l:?}");
    }

    #[test]
    fn an_unknown_or_absurd_size_still_gives_working_queues() {
        assert_eq!(limits(0, 0, true, 2), limits(1920, 1080, true, 2));
        let l = limits(i32::MAX, i32::MAX, false, 8);
        assert_eq!(
            l,
            Limits {
                queue: 1,
                in_flight: 1,
                image_sink: 1
            }
        );
    }
}
