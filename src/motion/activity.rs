//! Motion gating: whether anything in the picture has changed since the detector last looked.
//!
//! A scene where nothing moves gives the detector the same picture again and again; its answer
//! would be the one it gave last. [`ActivityGate`] compares a small grey thumbnail of each frame
//! due for detection with the thumbnail of the frame last detected (not the previous frame, so a
//! slow walk adds up until it shows) and calls the frame unchanged when too few pixels differ.
//! The tracker then takes the last detections again, so tracks of people standing still stay
//! alive and exact. A refresh interval bounds how long a picture may go unchecked by the
//! detector. The comparison is pure; only [`grey_thumbnail`] touches OpenCV.

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;
use serde::Deserialize;

use crate::error::{Context, Result};

/// Width of the thumbnail compared, pixels: a person 40 px wide in a 768 px frame is still
/// about 10 px wide in it, and a 4K frame shrinks to it in a few milliseconds.
const THUMBNAIL_WIDTH: i32 = 192;

/// `[detector.motion_gate]` (per camera in the daemon: `[cameras.NAME.motion_gate]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// Skip the detector on frames where nothing has changed since it last ran.
    pub enabled: bool,
    /// Share of the picture that must change to call it changed.
    pub min_area: f64,
    /// Grey-level difference (0–255) that counts a thumbnail pixel as changed: above sensor
    /// and compression noise.
    pub pixel_delta: u8,
    /// The detector runs at least this often, seconds, changed or not.
    pub refresh_s: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_area: 0.0005,
            pixel_delta: 18,
            refresh_s: 2.0,
        }
    }
}

impl GateConfig {
    pub fn validate(&self, section: &str) -> std::result::Result<(), String> {
        if !(self.min_area > 0.0 && self.min_area < 1.0) {
            return Err(format!(
                "{section}.min_area = {} must be a share of the picture in (0, 1)",
                self.min_area
            ));
        }
        if self.pixel_delta == 0 {
            return Err(format!(
                "{section}.pixel_delta = 0: every pixel would count as changed (use 1–255)"
            ));
        }
        if !(self.refresh_s.is_finite() && self.refresh_s > 0.0) {
            return Err(format!(
                "{section}.refresh_s = {} must be positive",
                self.refresh_s
            ));
        }
        Ok(())
    }
}

/// A small grey copy of a frame, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Thumbnail {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The gate's answer for one frame due for detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Something changed (or the refresh is due): detect it; it becomes the reference.
    Changed,
    /// Nothing changed since the reference frame, given by its source number.
    Unchanged { since: u64 },
}

/// The reference picture of one stream and the rule that compares frames with it.
pub struct ActivityGate {
    config: GateConfig,
    reference: Option<Reference>,
}

struct Reference {
    thumbnail: Thumbnail,
    number: u64,
    pts_ms: f64,
}

impl ActivityGate {
    pub fn new(config: GateConfig) -> Self {
        Self {
            config,
            reference: None,
        }
    }

    /// Judges frame `number` at `pts_ms` by its thumbnail; a changed frame becomes the reference.
    pub fn judge(&mut self, thumbnail: Thumbnail, number: u64, pts_ms: f64) -> Verdict {
        if let Some(r) = &self.reference {
            let fresh = pts_ms - r.pts_ms < self.config.refresh_s * 1000.0 && pts_ms >= r.pts_ms;
            if fresh && !self.changed(&r.thumbnail, &thumbnail) {
                return Verdict::Unchanged { since: r.number };
            }
        }
        self.reference = Some(Reference {
            thumbnail,
            number,
            pts_ms,
        });
        Verdict::Changed
    }

    /// Whether more than `min_area` of the picture differs by more than `pixel_delta`. A new
    /// size (a camera that came back at another resolution) is a change.
    fn changed(&self, before: &Thumbnail, now: &Thumbnail) -> bool {
        if (before.width, before.height) != (now.width, now.height) {
            return true;
        }
        let delta = self.config.pixel_delta;
        let differing = before
            .pixels
            .iter()
            .zip(&now.pixels)
            .filter(|(a, b)| a.abs_diff(**b) > delta)
            .count();
        differing as f64 > self.config.min_area * now.pixels.len() as f64
    }
}

/// `image` (BGR, BGRA or grey) shrunk to [`THUMBNAIL_WIDTH`] by area averaging, which also
/// averages away most sensor noise, then made grey.
pub fn grey_thumbnail(image: &Mat) -> Result<Thumbnail> {
    let (w, h) = (image.cols(), image.rows());
    let width = THUMBNAIL_WIDTH.min(w).max(1);
    let height = ((h as i64 * width as i64) / w.max(1) as i64).max(1) as i32;
    let mut small = Mat::default();
    imgproc::resize(
        image,
        &mut small,
        Size::new(width, height),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .internal_err(|| "motion gate: shrinking".into())?;
    let grey = match small.channels() {
        1 => small,
        channels => {
            let code = if channels == 4 {
                imgproc::COLOR_BGRA2GRAY
            } else {
                imgproc::COLOR_BGR2GRAY
            };
            let mut grey = Mat::default();
            imgproc::cvt_color_def(&small, &mut grey, code)
                .internal_err(|| "motion gate: grey conversion".into())?;
            grey
        }
    };
    let pixels = grey
        .data_bytes()
        .internal_err(|| "motion gate: thumbnail bytes".into())?
        .to_vec();
    Ok(Thumbnail {
        width: width as usize,
        height: height as usize,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(level: u8) -> Thumbnail {
        Thumbnail {
            width: 100,
            height: 50,
            pixels: vec![level; 5000],
        }
    }

    fn with_square(level: u8, x0: usize, side: usize) -> Thumbnail {
        let mut t = flat(level);
        for y in 10..10 + side {
            for x in x0..x0 + side {
                t.pixels[y * 100 + x] = 250;
            }
        }
        t
    }

    fn gate() -> ActivityGate {
        ActivityGate::new(GateConfig {
            enabled: true,
            ..GateConfig::default()
        })
    }

    #[test]
    fn the_first_frame_is_always_detected() {
        assert_eq!(gate().judge(flat(50), 1, 0.0), Verdict::Changed);
    }

    #[test]
    fn noise_below_the_pixel_delta_is_unchanged() {
        let mut g = gate();
        g.judge(flat(50), 1, 0.0);
        assert_eq!(g.judge(flat(60), 2, 40.0), Verdict::Unchanged { since: 1 });
    }

    #[test]
    fn a_moving_object_is_a_change_and_becomes_the_reference() {
        let mut g = gate();
        g.judge(with_square(50, 10, 6), 1, 0.0);
        assert_eq!(g.judge(with_square(50, 30, 6), 2, 40.0), Verdict::Changed);
        assert_eq!(
            g.judge(with_square(50, 30, 6), 3, 80.0),
            Verdict::Unchanged { since: 2 }
        );
    }

    #[test]
    fn slow_motion_adds_up_against_the_last_detected_frame() {
        // A 2-pixel object moving one pixel a frame: one step changes 2 of 5000 pixels (under
        // 0.05 %), two steps from where it was detected change 4 (over).
        let mut g = gate();
        let strip = |x: usize| {
            let mut t = flat(50);
            t.pixels[20 * 100 + x] = 250;
            t.pixels[20 * 100 + x + 1] = 250;
            t
        };
        assert_eq!(g.judge(strip(10), 1, 0.0), Verdict::Changed);
        assert_eq!(g.judge(strip(11), 2, 40.0), Verdict::Unchanged { since: 1 });
        assert_eq!(g.judge(strip(12), 3, 80.0), Verdict::Changed);
    }

    #[test]
    fn the_refresh_interval_forces_a_detection() {
        let mut g = gate();
        g.judge(flat(50), 1, 0.0);
        assert_eq!(
            g.judge(flat(50), 2, 1999.0),
            Verdict::Unchanged { since: 1 }
        );
        assert_eq!(g.judge(flat(50), 3, 2000.0), Verdict::Changed);
        // Time going backwards (a reconnected camera) is no reason to trust the old picture.
        assert_eq!(g.judge(flat(50), 4, 100.0), Verdict::Changed);
    }

    #[test]
    fn a_new_picture_size_is_a_change() {
        let mut g = gate();
        g.judge(flat(50), 1, 0.0);
        let other = Thumbnail {
            width: 50,
            height: 100,
            pixels: vec![50; 5000],
        };
        assert_eq!(g.judge(other, 2, 40.0), Verdict::Changed);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |c: GateConfig| c.validate("detector.motion_gate").unwrap_err();
        let d = GateConfig::default();
        assert!(bad(GateConfig {
            min_area: 0.0,
            ..d.clone()
        })
        .contains("detector.motion_gate.min_area"));
        assert!(bad(GateConfig {
            pixel_delta: 0,
            ..d.clone()
        })
        .contains("pixel_delta"));
        assert!(bad(GateConfig {
            refresh_s: -1.0,
            ..d
        })
        .contains("refresh_s"));
    }

    #[test]
    fn thumbnails_keep_the_aspect_and_go_grey() {
        let image = Mat::new_rows_cols_with_default(
            576,
            768,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(100.0),
        )
        .unwrap();
        let t = grey_thumbnail(&image).unwrap();
        assert_eq!((t.width, t.height), (192, 144));
        assert_eq!(t.pixels.len(), 192 * 144);
        assert!(t.pixels.iter().all(|&p| p == 100));
    }
}
