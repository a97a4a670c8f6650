//! What happens to a stream's frames between its tracker and its sinks, as one pure core: the
//! output lag (smoothing), the privacy filter on the picture, the analytics' events and scene,
//! and which copy of the frame each sink receives. The live track stage and the offline runs
//! (tracking given detections) both go through it, so an output sees the same frames either way.

use std::sync::Arc;

use opencv::core::Mat;

use crate::analytics::{Analyzer, Carried, LineTotal};
use crate::frame::{Detection, EndReason, Frame, StreamEnd, Track, TrackedFrame};
use crate::geom::{Affine, BBox};
use crate::privacy::Privacy;
use crate::track::FixedLag;

/// A tracked frame on its way to the outputs (through the output lag, if any): the picture, what
/// was detected in it, and where the tracks it did not see are predicted to be, so that the
/// privacy filter hides a person the detector briefly missed.
pub struct Held {
    pub frame: Frame,
    /// `None` when the detector did not look at the frame.
    pub detections: Option<Vec<Detection>>,
    /// `detections` are those of an earlier frame with the same picture (motion gating).
    pub unchanged: bool,
    pub unseen: Vec<(usize, BBox)>,
}

/// One stream's lag, privacy filter and analytics.
pub struct FrameCore {
    lag: FixedLag<Held>,
    privacy: Privacy,
    analyzer: Analyzer,
    /// The stream's name, for the privacy filter's log lines.
    camera: String,
}

impl FrameCore {
    pub fn new(lag: FixedLag<Held>, privacy: Privacy, analyzer: Analyzer, camera: &str) -> Self {
        Self {
            lag,
            privacy,
            analyzer,
            camera: camera.to_string(),
        }
    }

    /// What the tracker may see of `found`: detections inside a privacy mask are dropped when
    /// the filter says so.
    pub fn admit(&self, found: Vec<Detection>) -> Vec<Detection> {
        self.privacy.filter_detections(found)
    }

    /// One frame's tracks in (`moved`: the camera's motion into it); out, the frames the lag
    /// releases, each ready for the sinks.
    pub fn push(&mut self, held: Held, tracks: Vec<Track>, moved: &Affine) -> Vec<TrackedFrame> {
        let time_s = held.frame.meta.pts_ms / 1000.0;
        let released = self.lag.push(time_s, held, tracks, moved);
        released
            .into_iter()
            .map(|(held, tracks)| self.finish(held, tracks))
            .collect()
    }

    /// Everything the lag still holds, ready for the sinks (the end of a stream or an outage).
    pub fn flush(&mut self) -> Vec<TrackedFrame> {
        let released = self.lag.finish();
        released
            .into_iter()
            .map(|(held, tracks)| self.finish(held, tracks))
            .collect()
    }

    /// Ends every track at stream time `pts_ms` (after [`flush`](Self::flush)): their
    /// `track_ended` events and zone exits.
    pub fn end_all(&mut self, reason: EndReason, pts_ms: f64) -> StreamEnd {
        self.analyzer.end_all(reason, pts_ms)
    }

    /// Crossings per line, direction and class so far.
    pub fn totals(&self) -> Vec<LineTotal> {
        self.analyzer.totals()
    }

    /// What the analytics carry to the camera's next owner (cluster mode).
    pub fn carry(&self) -> Carried {
        self.analyzer.carry()
    }

    /// The privacy filter first, so no sink ever sees what it hides (a picture the filter
    /// failed on is released here), then the analytics.
    fn finish(&mut self, held: Held, tracks: Vec<Track>) -> TrackedFrame {
        let Held {
            mut frame,
            detections,
            unchanged,
            unseen,
        } = held;
        let hidden = tracks.iter().map(|t| (t.class_id, t.bbox)).chain(unseen);
        self.privacy.filter_frame(&mut frame, hidden, &self.camera);
        let (events, scene) = self.analyzer.update(frame.meta.pts_ms, &tracks);
        TrackedFrame {
            frame,
            detected: detections.is_some(),
            detections: detections.unwrap_or_default(),
            unchanged,
            tracks,
            events,
            scene,
        }
    }
}

/// What each sink receives of a frame, by whether it draws (`needs_image`, one per sink): a
/// copy without the picture only where some draw and others do not, so a slow network output
/// never keeps pictures alive; the last sink to get the frame itself is handed the original, so
/// that if it is the only one it may draw on the picture instead of a copy.
pub fn for_sinks(frame: TrackedFrame, needs_image: &[bool]) -> Vec<Arc<TrackedFrame>> {
    let mixed = needs_image.iter().any(|&n| n) && needs_image.iter().any(|&n| !n);
    let light = mixed.then(|| {
        Arc::new(TrackedFrame {
            frame: Frame::unbudgeted(frame.frame.meta, Mat::default()),
            detections: frame.detections.clone(),
            detected: frame.detected,
            unchanged: frame.unchanged,
            tracks: frame.tracks.clone(),
            events: frame.events.clone(),
            scene: frame.scene.clone(),
        })
    });
    let whole = Arc::new(frame);
    let mut out: Vec<Arc<TrackedFrame>> = needs_image
        .iter()
        .map(|&needs| match &light {
            Some(light) if !needs => light.clone(),
            _ => whole.clone(),
        })
        .collect();
    // Only the original reference is left for the last taker once the others are handed out.
    if let Some(last) = needs_image.iter().rposition(|&n| n || light.is_none()) {
        drop(std::mem::replace(&mut out[last], whole));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::AnalyticsConfig;
    use crate::detect::Labels;
    use crate::frame::{EventKind, FrameMeta};
    use std::time::Instant;

    fn core(lag_s: f64) -> FrameCore {
        let labels = Labels::from_names(vec!["person".into()]);
        let analyzer = Analyzer::new(&AnalyticsConfig::default(), &labels, 1.0, "analytics")
            .expect("no lines or zones");
        FrameCore::new(
            FixedLag::new(lag_s, 0.0),
            Privacy::default(),
            analyzer,
            "test",
        )
    }

    fn held(n: u64) -> Held {
        let meta = FrameMeta {
            seq: n,
            number: n + 1,
            pts_ms: n as f64 * 40.0,
            captured_at: Instant::now(),
            camera: Affine::IDENTITY,
            plan: Default::default(),
        };
        Held {
            frame: Frame::unbudgeted(meta, Mat::default()),
            detections: n.is_multiple_of(2).then(Vec::new),
            unchanged: false,
            unseen: Vec::new(),
        }
    }

    fn track(id: u64, x: f32) -> Track {
        Track {
            id,
            class_id: 0,
            score: 0.9,
            bbox: BBox::new(x, 10.0, x + 20.0, 60.0),
            velocity: [0.0, 0.0],
            predicted: Vec::new(),
        }
    }

    #[test]
    fn without_lag_each_frame_comes_out_at_once_with_its_events() {
        let mut core = core(0.0);
        let out = core.push(held(0), vec![track(1, 0.0)], &Affine::IDENTITY);
        assert_eq!(out.len(), 1);
        assert!(out[0].detected);
        assert_eq!(out[0].events.len(), 1);
        assert_eq!(out[0].events[0].kind, EventKind::TrackStarted);
        let out = core.push(held(1), vec![track(1, 2.0)], &Affine::IDENTITY);
        assert!(!out[0].detected, "frame 1 was not detected");
        assert!(out[0].events.is_empty(), "a started track starts once");
        assert!(core.flush().is_empty());
        let end = core.end_all(EndReason::Removed, 80.0);
        assert_eq!(end.reason, EndReason::Removed);
        assert_eq!(end.events.len(), 1);
        assert_eq!(end.events[0].kind, EventKind::TrackEnded);
    }

    #[test]
    fn a_lag_holds_frames_back_and_a_flush_lets_every_one_out_in_order() {
        let mut core = core(0.2);
        let mut out = Vec::new();
        for n in 0..10 {
            out.extend(core.push(held(n), vec![track(1, n as f32)], &Affine::IDENTITY));
        }
        assert!(out.len() < 10, "0.2 s of 40 ms frames are held back");
        out.extend(core.flush());
        let numbers: Vec<u64> = out.iter().map(|f| f.frame.meta.number).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn sinks_that_do_not_draw_share_a_copy_without_the_picture() {
        let frame = |_| {
            let mut f = core(0.0).push(held(0), vec![track(1, 0.0)], &Affine::IDENTITY);
            f.remove(0)
        };
        // One drawing sink among network sinks: it alone holds the original.
        let out = for_sinks(frame(()), &[false, true, false]);
        assert_eq!(out.len(), 3);
        assert!(Arc::ptr_eq(&out[0], &out[2]));
        assert!(!Arc::ptr_eq(&out[0], &out[1]));
        assert_eq!(
            Arc::strong_count(&out[1]),
            1,
            "the drawing sink may draw in place"
        );
        // All alike: one frame shared, the last sink holding the reference handed over last.
        let out = for_sinks(frame(()), &[false, false]);
        assert!(Arc::ptr_eq(&out[0], &out[1]));
        assert!(for_sinks(frame(()), &[]).is_empty());
    }
}
