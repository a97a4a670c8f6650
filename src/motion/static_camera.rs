//! Whether the camera stands still, judged from its recent warps: a static camera's warps are the
//! identity up to measurement noise, and the pipeline can then skip warping the tracks at all.

use std::collections::VecDeque;

use crate::geom::{Affine, MIN_CAMERA_SHIFT_PX as STATIC_CORNER_SHIFT_PX};

/// Whether every one of `recent` warps (at least one) leaves a `width`×`height` frame's corners
/// within [`STATIC_CORNER_SHIFT_PX`] of where they were.
pub fn is_static_camera(recent: &[Affine], width: f64, height: f64) -> bool {
    !recent.is_empty()
        && recent
            .iter()
            .all(|warp| warp.corner_shift(width, height) < STATIC_CORNER_SHIFT_PX)
}

/// The last `window` warps' corner shifts, to ask [`is_static`](Self::is_static) after each frame.
#[derive(Clone, Debug)]
pub struct StaticCameraWatch {
    window: usize,
    recent_shifts: VecDeque<f64>,
}

impl StaticCameraWatch {
    /// Judges on the last `window` frames (at least 1); a camera is not called static before it
    /// has been seen that long.
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self {
            window,
            recent_shifts: VecDeque::with_capacity(window),
        }
    }

    /// Records this frame's warp; whether the camera is static now.
    pub fn observe(&mut self, warp: &Affine, width: f64, height: f64) -> bool {
        if self.recent_shifts.len() == self.window {
            self.recent_shifts.pop_front();
        }
        // A warp that is not even usable is no evidence of stillness.
        let shift = if warp.is_usable() {
            warp.corner_shift(width, height)
        } else {
            f64::INFINITY
        };
        self.recent_shifts.push_back(shift);
        self.is_static()
    }

    /// A full window of warps, all within [`STATIC_CORNER_SHIFT_PX`].
    pub fn is_static(&self) -> bool {
        self.recent_shifts.len() == self.window
            && self
                .recent_shifts
                .iter()
                .all(|&shift| shift < STATIC_CORNER_SHIFT_PX)
    }

    /// Forgets what it saw (after a cut or a resolution change).
    pub fn reset(&mut self) {
        self.recent_shifts.clear();
    }
}

/// `camera_motion = "auto"`: measure every frame until the camera has stood still for a whole
/// window, then only every `recheck`th frame (against the last one measured), until such a check
/// finds it moving again.
#[derive(Clone, Debug)]
pub struct AutoMeasure {
    watch: StaticCameraWatch,
    recheck: u32,
    still: bool,
    skipped: u32,
}

impl AutoMeasure {
    pub fn new(window: usize, recheck: u32) -> Self {
        Self {
            watch: StaticCameraWatch::new(window),
            recheck: recheck.max(1),
            still: false,
            skipped: 0,
        }
    }

    /// Whether the camera is taken as still (measured only now and then).
    pub fn is_still(&self) -> bool {
        self.still
    }

    /// Whether this frame is to be measured.
    pub fn due(&mut self) -> bool {
        if !self.still {
            return true;
        }
        self.skipped += 1;
        if self.skipped < self.recheck {
            return false;
        }
        self.skipped = 0;
        true
    }

    /// What to apply for a measured frame: its warp while the camera moves; the identity while
    /// it is still, and for the check that finds it moving (that warp spans the frames skipped,
    /// which were taken as still), after which every frame is measured again.
    pub fn measured(&mut self, warp: &Affine, width: f64, height: f64) -> Affine {
        if self.still {
            let moved =
                !warp.is_usable() || warp.corner_shift(width, height) >= STATIC_CORNER_SHIFT_PX;
            if moved {
                self.still = false;
                self.watch.reset();
            }
            return Affine::IDENTITY;
        }
        self.still = self.watch.observe(warp, width, height);
        *warp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: f64 = 1920.0;
    const H: f64 = 1080.0;

    fn shift(dx: f64) -> Affine {
        Affine([1.0, 0.0, dx, 0.0, 1.0, 0.0])
    }

    #[test]
    fn identity_and_subpixel_noise_are_static() {
        assert!(is_static_camera(&[Affine::IDENTITY], W, H));
        // BoT-SORT's warp for MOT17-04 frame 1 → 2: the static camera's noise.
        let noise = Affine([
            1.000018, 0.000001, -0.044861, -0.000001, 1.000018, -0.097351,
        ]);
        assert!(is_static_camera(&[noise, shift(0.3)], W, H));
    }

    #[test]
    fn one_moving_warp_or_none_is_not_static() {
        assert!(!is_static_camera(&[], W, H));
        assert!(!is_static_camera(&[Affine::IDENTITY, shift(2.0)], W, H));
        // A 1 % zoom moves 1080p corners by ~11 px though the centre stays.
        let zoom = Affine([1.01, 0.0, -9.6, 0.0, 1.01, -5.4]);
        assert!(!is_static_camera(&[zoom], W, H));
    }

    #[test]
    fn the_watch_needs_a_full_window_of_still_warps() {
        let mut watch = StaticCameraWatch::new(3);
        assert!(!watch.observe(&Affine::IDENTITY, W, H));
        assert!(!watch.observe(&Affine::IDENTITY, W, H));
        assert!(watch.observe(&Affine::IDENTITY, W, H));
        assert!(!watch.observe(&shift(5.0), W, H), "the camera moved");
        assert!(!watch.observe(&Affine::IDENTITY, W, H));
        assert!(!watch.observe(&Affine::IDENTITY, W, H));
        assert!(
            watch.observe(&Affine::IDENTITY, W, H),
            "the move left the window"
        );
        watch.reset();
        assert!(!watch.is_static());
    }

    #[test]
    fn auto_measures_a_still_camera_now_and_then_and_a_moving_one_always() {
        let mut auto = AutoMeasure::new(3, 4);
        for _ in 0..3 {
            assert!(auto.due());
            assert_eq!(auto.measured(&shift(0.2), W, H), shift(0.2));
        }
        assert!(auto.is_still(), "a full window of stillness");
        // Now one frame in four.
        let due: Vec<bool> = (0..8).map(|_| auto.due()).collect();
        assert_eq!(due, [false, false, false, true, false, false, false, true]);
        assert_eq!(auto.measured(&shift(0.3), W, H), Affine::IDENTITY);
        assert!(auto.is_still());
        // A check that finds it moving: every frame again, from the next one.
        assert!((0..4).map(|_| auto.due()).last().unwrap());
        assert_eq!(auto.measured(&shift(12.0), W, H), Affine::IDENTITY);
        assert!(!auto.is_still());
        assert!(auto.due());
        assert_eq!(auto.measured(&shift(6.0), W, H), shift(6.0));
    }

    #[test]
    fn an_unusable_warp_is_not_evidence_of_stillness() {
        let mut watch = StaticCameraWatch::new(1);
        assert!(!watch.observe(&Affine([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]), W, H));
        assert!(watch.observe(&Affine::IDENTITY, W, H));
    }
}
