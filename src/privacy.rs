//! Privacy filters (`[privacy]`): the people in recordings, previews and snapshots made
//! unrecognisable, and fixed areas (a neighbour's window, a street) blacked out. Applied once per
//! frame in the stream's track stage, after detection and tracking and before any output gets
//! the picture, so every image that leaves the pipeline is filtered and the detector never sees
//! a filtered one.

use opencv::core::{Mat, Point, Rect, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use serde::Deserialize;

use crate::error::{Context, Result};
use crate::frame::{Detection, Frame};
use crate::geom::BBox;
use crate::geom::Polygon;
use crate::labels::Labels;

/// The share of a box's height `region = "head"` hides, from its top.
const HEAD_SHARE: f32 = 0.3;
/// `pixelate`: cells across the box's shorter side; few enough that no face survives.
const PIXELATE_CELLS: i32 = 6;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Blur,
    Pixelate,
    Fill,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    #[default]
    Box,
    /// The top of the box, where a standing person's head is.
    Head,
}

/// `[privacy]`, per camera in the daemon.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Class names whose tracked boxes are hidden in every image output.
    pub blur: Vec<String>,
    pub mode: Mode,
    pub region: Region,
    /// Polygons (frame pixels, at least 3 points each) blacked out in every image output.
    pub masks: Vec<Vec<[f64; 2]>>,
    /// Also ignore detections centred inside a mask.
    pub mask_detections: bool,
    /// No picture may leave at all (annotated video, preview, snapshots): only tracks, events
    /// and counts. A configuration that asks for a picture output as well is refused.
    pub metadata_only: bool,
}

impl PrivacyConfig {
    /// Checks what can be checked before the frame size is known; `section` names where the
    /// keys sit (`privacy`, `cameras.NAME.privacy`).
    pub fn validate(&self, section: &str) -> std::result::Result<(), String> {
        self.polygons(section).map(|_| ())
    }

    /// The masks as checked polygons (the shape rules of `[analytics]` zones).
    fn polygons(&self, section: &str) -> std::result::Result<Vec<Polygon>, String> {
        self.masks
            .iter()
            .enumerate()
            .map(|(i, mask)| {
                Polygon::new(mask.clone()).map_err(|e| format!("{section}.masks[{i}]: {e}"))
            })
            .collect()
    }
}

/// A stream's privacy filter, ready to apply.
#[derive(Clone, Debug, Default)]
pub struct Privacy {
    classes: Vec<usize>,
    mode: Mode,
    region: Region,
    masks: Vec<Polygon>,
    mask_detections: bool,
}

impl Privacy {
    /// `section` names where the keys sit, for errors (an unknown class name).
    pub fn new(config: &PrivacyConfig, labels: &Labels, section: &str) -> Result<Self> {
        let classes = config
            .blur
            .iter()
            .map(|name| {
                labels
                    .id_of(name)
                    .map_err(|e| crate::error::Error::input(format!("config: {section}.blur: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            classes,
            mode: config.mode,
            region: config.region,
            masks: config
                .polygons(section)
                .map_err(|e| crate::error::Error::input(format!("config: {e}")))?,
            mask_detections: config.mask_detections,
        })
    }

    pub fn is_active(&self) -> bool {
        !self.classes.is_empty() || !self.masks.is_empty()
    }

    /// What the filter does, for the log line at start.
    pub fn describe(&self, labels: &Labels) -> String {
        if !self.is_active() {
            return "none: images leave as captured".into();
        }
        let names: Vec<&str> = self.classes.iter().map(|&c| labels.name(c)).collect();
        format!(
            "{:?} of [{}] by {:?}, {} mask(s){}",
            self.region,
            names.join(", "),
            self.mode,
            self.masks.len(),
            if self.mask_detections {
                ", masked areas not detected"
            } else {
                ""
            }
        )
        .to_lowercase()
    }

    /// Refuses masks that lie outside a `width`×`height` frame.
    pub fn check_frame(&self, width: i32, height: i32, section: &str) -> Result<()> {
        for (i, mask) in self.masks.iter().enumerate() {
            let (w, h) = (width as f64, height as f64);
            let outside = mask
                .corners
                .iter()
                .find(|[x, y]| *x < 0.0 || *y < 0.0 || *x > w || *y > h);
            if let Some([x, y]) = outside {
                return Err(crate::error::Error::input(format!(
                    "config: {section}.masks[{i}]: point ({x}, {y}) is outside the {width}x{height} frame"
                )));
            }
        }
        Ok(())
    }

    /// Drops detections centred in a mask, when the masks exclude detection too.
    pub fn filter_detections(&self, mut detections: Vec<Detection>) -> Vec<Detection> {
        if self.mask_detections && !self.masks.is_empty() {
            detections.retain(|d| {
                let (cx, cy) = d.bbox.center();
                !self
                    .masks
                    .iter()
                    .any(|m| m.contains([cx as f64, cy as f64]))
            });
        }
        detections
    }

    /// Hides the boxes of the filtered classes (`(class, box)`: reported tracks and those
    /// briefly lost, at their predicted place), then blacks out the masks.
    pub fn apply(&self, image: &mut Mat, boxes: impl Iterator<Item = (usize, BBox)>) -> Result<()> {
        if image.empty() {
            return Ok(());
        }
        let frame = Rect::new(0, 0, image.cols(), image.rows());
        for (class, bbox) in boxes {
            if !self.classes.contains(&class) {
                continue;
            }
            let area = self.area_of(bbox) & frame;
            if area.width >= 2 && area.height >= 2 {
                self.hide(image, area)?;
            }
        }
        for mask in &self.masks {
            let corners: Vector<Point> = mask
                .corners
                .iter()
                .map(|[x, y]| Point::new(x.round() as i32, y.round() as i32))
                .collect();
            let black = Scalar::all(0.0);
            imgproc::fill_poly_def(image, &Vector::<Vector<Point>>::from(vec![corners]), black)
                .internal_err(|| "privacy mask".into())?;
        }
        Ok(())
    }

    /// Filters `frame`'s picture, or withholds it: a picture the filter failed on must not
    /// leave, so it is released and no image output of the stream gets this frame (its tracks
    /// and events still go out). False when withheld. `camera` names the stream in the log.
    pub fn filter_frame(
        &self,
        frame: &mut Frame,
        boxes: impl Iterator<Item = (usize, BBox)>,
        camera: &str,
    ) -> bool {
        match self.apply(&mut frame.image, boxes) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(camera, "privacy filter failed, picture withheld: {e}");
                frame.release_image();
                false
            }
        }
    }

    /// The pixels to hide of a box, rounded outwards.
    fn area_of(&self, b: BBox) -> Rect {
        let bottom = match self.region {
            Region::Box => b.y2,
            Region::Head => b.y1 + (b.y2 - b.y1) * HEAD_SHARE,
        };
        let (x1, y1) = (b.x1.floor() as i32, b.y1.floor() as i32);
        Rect::new(x1, y1, b.x2.ceil() as i32 - x1, bottom.ceil() as i32 - y1)
    }

    fn hide(&self, image: &mut Mat, area: Rect) -> Result<()> {
        let mut roi = Mat::roi_mut(image, area).internal_err(|| "privacy region".into())?;
        let original = roi.try_clone().internal_err(|| "privacy region".into())?;
        match self.mode {
            Mode::Fill => roi
                .set_to_def(&Scalar::all(0.0))
                .map(|_| ())
                .internal_err(|| "privacy fill".into()),
            Mode::Blur => {
                // A kernel as wide as the box's shorter side leaves no facial detail at any size.
                let k = area.width.min(area.height) | 1;
                imgproc::gaussian_blur_def(&original, &mut roi, Size::new(k.max(3), k.max(3)), 0.0)
                    .internal_err(|| "privacy blur".into())
            }
            Mode::Pixelate => {
                let cell = (area.width.min(area.height) / PIXELATE_CELLS).max(1);
                let small = Size::new((area.width / cell).max(1), (area.height / cell).max(1));
                let mut tiny = Mat::default();
                imgproc::resize(&original, &mut tiny, small, 0.0, 0.0, imgproc::INTER_AREA)
                    .internal_err(|| "privacy pixelate".into())?;
                imgproc::resize(
                    &tiny,
                    &mut roi,
                    area.size(),
                    0.0,
                    0.0,
                    imgproc::INTER_NEAREST,
                )
                .internal_err(|| "privacy pixelate".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::CV_8UC3;

    fn labels() -> Labels {
        Labels::parse("person\ncar").unwrap()
    }

    fn config(text: &str) -> PrivacyConfig {
        toml::from_str(text).unwrap()
    }

    /// A frame of fine vertical stripes: all detail, easy to measure.
    fn stripes() -> Mat {
        let mut m = Mat::new_rows_cols_with_default(100, 200, CV_8UC3, Scalar::all(0.0)).unwrap();
        for x in (0..200).step_by(2) {
            imgproc::line_def(
                &mut m,
                Point::new(x, 0),
                Point::new(x, 99),
                Scalar::all(255.0),
            )
            .unwrap();
        }
        m
    }

    fn pixel(m: &Mat, x: i32, y: i32) -> [u8; 3] {
        let v = m.at_2d::<opencv::core::Vec3b>(y, x).unwrap();
        [v[0], v[1], v[2]]
    }

    fn person(x1: f32, y1: f32, x2: f32, y2: f32) -> (usize, BBox) {
        (0, BBox::new(x1, y1, x2, y2))
    }

    #[test]
    fn each_mode_hides_the_box_and_nothing_else() {
        for mode in ["blur", "pixelate", "fill"] {
            let p = Privacy::new(
                &config(&format!("blur = [\"person\"]\nmode = \"{mode}\"")),
                &labels(),
                "privacy",
            )
            .unwrap();
            let mut m = stripes();
            p.apply(
                &mut m,
                [
                    person(20.0, 10.0, 80.0, 90.0),
                    (1, BBox::new(120.0, 10.0, 180.0, 90.0)),
                ]
                .into_iter(),
            )
            .unwrap();
            let original = stripes();
            // Inside: neighbouring columns no longer alternate black and white.
            let inside: Vec<[u8; 3]> = (40..44).map(|x| pixel(&m, x, 50)).collect();
            assert!(
                inside
                    .windows(2)
                    .all(|w| (w[0][0] as i32 - w[1][0] as i32).abs() < 128),
                "{mode}: {inside:?}"
            );
            // Outside, and in the car's box (not a filtered class): untouched.
            for x in [5, 10, 100, 130, 150, 190] {
                assert_eq!(pixel(&m, x, 50), pixel(&original, x, 50), "{mode} at {x}");
            }
        }
    }

    /// The promise behind `filter_frame`: a picture the filter cannot hide a person in never
    /// leaves. A picture of 32-bit integers is one OpenCV's blur refuses.
    #[test]
    fn a_picture_the_filter_fails_on_is_withheld() {
        use crate::frame::FrameMeta;
        let p = Privacy::new(&config("blur = [\"person\"]"), &labels(), "privacy").unwrap();
        let frame = |image: Mat| {
            let meta = FrameMeta {
                seq: 0,
                number: 1,
                pts_ms: 0.0,
                captured_at: std::time::Instant::now(),
                camera: crate::geom::Affine::IDENTITY,
                plan: Default::default(),
            };
            Frame::unbudgeted(meta, image)
        };
        let unblurrable =
            Mat::new_rows_cols_with_default(100, 200, opencv::core::CV_32SC3, Scalar::all(7.0))
                .unwrap();
        let mut failing = frame(unblurrable);
        let hidden = [person(20.0, 10.0, 80.0, 90.0)];
        assert!(!p.filter_frame(&mut failing, hidden.into_iter(), "cam"));
        assert!(failing.image.empty(), "the unfiltered picture was kept");
        // The same call on a picture it can filter keeps it, filtered.
        let mut fine = frame(stripes());
        assert!(p.filter_frame(&mut fine, hidden.into_iter(), "cam"));
        assert!(!fine.image.empty());
        assert_ne!(pixel(&fine.image, 41, 50), pixel(&stripes(), 41, 50));
    }

    #[test]
    fn head_region_hides_the_top_of_the_box_only() {
        let p = Privacy::new(
            &config("blur = [\"person\"]\nregion = \"head\"\nmode = \"fill\""),
            &labels(),
            "privacy",
        )
        .unwrap();
        let mut m = stripes();
        p.apply(&mut m, [person(20.0, 0.0, 80.0, 100.0)].into_iter())
            .unwrap();
        assert_eq!(pixel(&m, 40, 10), [0, 0, 0]);
        assert_eq!(pixel(&m, 40, 60), pixel(&stripes(), 40, 60));
    }

    #[test]
    fn masks_are_black_and_can_exclude_detections() {
        let c = config("masks = [[[0, 0], [50, 0], [50, 50], [0, 50]]]\nmask_detections = true");
        let p = Privacy::new(&c, &labels(), "privacy").unwrap();
        let mut m = stripes();
        p.apply(&mut m, std::iter::empty()).unwrap();
        assert_eq!(pixel(&m, 10, 10), [0, 0, 0]);
        assert_eq!(pixel(&m, 100, 80), pixel(&stripes(), 100, 80));
        let at = |x: f32| Detection {
            bbox: BBox::new(x, 10.0, x + 10.0, 20.0),
            score: 0.9,
            class_id: 0,
        };
        assert_eq!(
            p.filter_detections(vec![at(10.0), at(100.0)]),
            vec![at(100.0)]
        );
        assert!(p.check_frame(200, 100, "privacy").is_ok());
        let e = p.check_frame(40, 40, "privacy").unwrap_err().to_string();
        assert!(e.contains("privacy.masks[0]") && e.contains("40x40"), "{e}");
    }

    #[test]
    fn bad_settings_name_the_key() {
        let e = Privacy::new(
            &config("blur = [\"unicorn\"]"),
            &labels(),
            "cameras.gate.privacy",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("cameras.gate.privacy.blur")
                && e.to_string().contains("unicorn"),
            "{e}"
        );
        let e = config("masks = [[[0, 0], [1, 1]]]")
            .validate("privacy")
            .unwrap_err();
        assert!(
            e.contains("privacy.masks[0]") && e.contains("3 points"),
            "{e}"
        );
        assert!(toml::from_str::<PrivacyConfig>("mode = \"smudge\"").is_err());
        assert!(toml::from_str::<PrivacyConfig>("region = \"feet\"").is_err());
        assert!(!Privacy::default().is_active());
    }
}
