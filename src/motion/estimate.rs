//! The sparse-optical-flow camera motion estimate (BoT-SORT's default GMC) on a shrunk grey copy
//! of each frame.

use opencv::core::{Mat, Point, Point2f, Rect, Scalar, Size, TermCriteria, Vector, CV_8UC1};
use opencv::prelude::*;
use opencv::{calib3d, imgproc, video};

use crate::error::{Context, Error, Result};
use crate::geom::{Affine, BBox};

/// How the estimate is made. The flow is BoT-SORT's (Lucas–Kanade, 21-pixel window, 3 pyramid
/// levels); the working size for frames wider than 640, the RANSAC threshold, fewer corners
/// spread further apart, and corners carried from frame to frame are vigil's (see the fields).
#[derive(Clone, Debug)]
pub struct MotionConfig {
    /// Frames are shrunk by the smallest whole factor that brings their width to at most this
    /// many pixels: fewer pixels make corners and flow cheaper, and a whole factor lets every
    /// working pixel stand for a block of full-resolution ones. 1080p → ÷6, 640×480 → ÷2
    /// (BoT-SORT's); the cost is mostly in following the corners, not in their number of pixels.
    pub max_working_width: i32,
    /// Corners followed from one frame to the next, at most. Following them is most of the cost;
    /// spread `corner_spacing` apart, 250 measure a known shift better than BoT-SORT's 1000
    /// crowded ones (0.25 px off against 0.48: `tests/motion.rs`,
    /// `carried_corners_measure_a_known_shake_better_than_botsorts_way`).
    pub max_corners: i32,
    /// The least distance between two corners, in working pixels (BoT-SORT's is 1): corners
    /// crowded on one patch of texture add cost, not information.
    pub corner_spacing: f64,
    /// The corners that fit the last warp are followed on into the next frame (less those now
    /// on a detected object or at the border); they are searched afresh only when fewer than
    /// this share of the last search's remain. Searching costs as much as following 400.
    pub refind_below: f64,
    /// Corners weaker than this fraction of the strongest one are dropped.
    pub corner_quality: f64,
    /// The frame's edge, as a fraction of its size, where no corner is taken: borders carry
    /// overlays (time stamps) and lose their content as the camera moves.
    pub border_fraction: f64,
    /// Fewer corners followed than this, and the warp is not trusted.
    pub min_tracked_corners: usize,
    /// How far (working pixels) a corner may be from where the warp puts it and still count.
    /// Tighter than OpenCV's 3: a walking camera sees the street at many depths, and a tight
    /// threshold keeps the fit on the dominant one.
    pub ransac_threshold_px: f64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            max_working_width: 320,
            max_corners: 250,
            corner_spacing: 8.0,
            refind_below: 0.5,
            corner_quality: 0.01,
            border_fraction: 0.02,
            min_tracked_corners: 8,
            ransac_threshold_px: 1.0,
        }
    }
}

/// Measures the camera's motion between consecutive frames given to it.
pub struct MotionEstimator {
    config: MotionConfig,
    previous: Option<PreviousFrame>,
    last_measured: bool,
}

/// What the next estimate needs of the frame before it.
struct PreviousFrame {
    full_size: Size,
    grey: Mat,
    corners: Vector<Point2f>,
    /// How many corners the last search for them found.
    searched: usize,
}

impl MotionEstimator {
    pub fn new(config: MotionConfig) -> Self {
        Self {
            config,
            previous: None,
            last_measured: false,
        }
    }

    /// The warp taking the previous frame given here to `frame` (BGR, BGRA or grey, 8-bit), in
    /// `frame`'s full-resolution pixels; the identity for the first frame, after a resolution
    /// change or an unreadable frame (which also start afresh), and when the motion cannot be
    /// measured. `boxes` are the objects detected in `frame` (full-resolution pixels): no corner
    /// is taken on them for the next estimate, so moving objects do not pull the warp along.
    pub fn estimate(&mut self, frame: &Mat, boxes: &[BBox]) -> Result<Affine> {
        self.last_measured = false;
        let Some(full_size) = self.usable_size(frame)? else {
            tracing::debug!("camera motion: frame too small or empty, starting afresh");
            self.reset();
            return Ok(Affine::IDENTITY);
        };
        let downscale = downscale_for(full_size.width, self.config.max_working_width);
        let grey = working_grey(frame, downscale)?;
        let measured = match self.previous.take() {
            Some(previous) if previous.full_size == full_size => self
                .measure(&previous, &grey, downscale)
                .map(|(warp, fitting)| (warp, fitting, previous.searched)),
            Some(_) => {
                tracing::debug!("camera motion: resolution changed, starting afresh");
                None
            }
            None => None,
        };
        self.last_measured = measured.is_some();
        let (warp, fitting, searched) = measured.unwrap_or((Affine::IDENTITY, Vector::new(), 0));
        let mask = corner_mask(
            grey.size().unwrap_or_default(),
            boxes,
            downscale,
            &self.config,
        )
        .internal_err(|| "camera motion: corner mask".into())?;
        let (corners, searched) = self.next_corners(&grey, &mask, fitting, searched)?;
        self.previous = Some(PreviousFrame {
            full_size,
            grey,
            corners,
            searched,
        });
        Ok(warp)
    }

    /// Whether the last warp [`estimate`](Self::estimate) returned was measured, rather than the
    /// identity it falls back to: a static-camera judgement should not count fallbacks.
    pub fn last_measured(&self) -> bool {
        self.last_measured
    }

    /// Forgets the previous frame: the next estimate is the identity.
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// The frame's size, or `None` when it is too small to shrink and find corners in; an error
    /// for pixel formats it cannot read.
    fn usable_size(&self, frame: &Mat) -> Result<Option<Size>> {
        if frame.empty() {
            return Ok(None);
        }
        if frame.depth() != opencv::core::CV_8U || ![1, 3, 4].contains(&frame.channels()) {
            return Err(Error::input(format!(
                "camera motion: frames must be 8-bit grey, BGR or BGRA, not type {}",
                frame.typ()
            )));
        }
        let size = frame
            .size()
            .internal_err(|| "camera motion: frame size".into())?;
        // The flow's 21-pixel window and 3 pyramid levels need some room at working size.
        const MIN_WORKING_SIDE: i32 = 32;
        let downscale = downscale_for(size.width, self.config.max_working_width);
        let big_enough = size.width / downscale >= MIN_WORKING_SIDE
            && size.height / downscale >= MIN_WORKING_SIDE;
        Ok(big_enough.then_some(size))
    }

    /// The warp from `previous` to `grey` in full-resolution pixels, with the corners that fit
    /// it where they are in `grey`; `None` (said at debug level) when too few corners were
    /// followed or the fit failed.
    fn measure(
        &self,
        previous: &PreviousFrame,
        grey: &Mat,
        downscale: i32,
    ) -> Option<(Affine, Vector<Point2f>)> {
        let result =
            follow_corners(&previous.grey, grey, &previous.corners).and_then(|(from, to)| {
                if from.len() < self.config.min_tracked_corners {
                    return Ok(None);
                }
                let fit = fit_similarity(&from, &to, self.config.ransac_threshold_px)?;
                Ok(fit.map(|(warp, inliers)| {
                    let fitting = to
                        .iter()
                        .zip(inliers)
                        .filter_map(|(p, inlier)| inlier.then_some(p))
                        .collect();
                    (warp, fitting)
                }))
            });
        let (warp, fitting) = match result {
            Ok(Some((working, fitting))) => (to_full_resolution(&working, downscale), fitting),
            Ok(None) => {
                tracing::debug!(
                    corners = previous.corners.len(),
                    "camera motion: too few corners followed, assuming a still camera"
                );
                return None;
            }
            Err(e) => {
                tracing::debug!("camera motion: estimate failed ({e}), assuming a still camera");
                return None;
            }
        };
        if !warp.is_usable() {
            tracing::debug!(
                ?warp,
                "camera motion: degenerate warp, assuming a still camera"
            );
            return None;
        }
        Some((warp, fitting))
    }

    /// The corners to follow into the next frame, and how many the last search found: those
    /// `fitting` the last warp that `mask` still allows, while enough remain; else a new search.
    fn next_corners(
        &self,
        grey: &Mat,
        mask: &Mat,
        fitting: Vector<Point2f>,
        searched: usize,
    ) -> Result<(Vector<Point2f>, usize)> {
        let allowed = |p: &Point2f| {
            let (x, y) = (p.x.round() as i32, p.y.round() as i32);
            mask.at_2d::<u8>(y, x).is_ok_and(|v| *v > 0) // out of the frame: an error, not allowed
        };
        let carried: Vector<Point2f> = fitting.iter().filter(allowed).collect();
        let enough = (searched as f64 * self.config.refind_below)
            .max(self.config.min_tracked_corners as f64);
        if carried.len() as f64 >= enough {
            return Ok((carried, searched));
        }
        let found = self.corners_off_objects(grey, mask)?;
        let searched = found.len();
        Ok((found, searched))
    }

    /// Good corners of `grey` where `mask` allows them (away from the border and the objects).
    fn corners_off_objects(&self, grey: &Mat, mask: &Mat) -> Result<Vector<Point2f>> {
        let mut corners = Vector::<Point2f>::new();
        imgproc::good_features_to_track(
            grey,
            &mut corners,
            self.config.max_corners,
            self.config.corner_quality,
            self.config.corner_spacing,
            mask,
            3,     // blockSize
            false, // Shi–Tomasi, not Harris
            0.04,
        )
        .internal_err(|| "camera motion: goodFeaturesToTrack".into())?;
        Ok(corners)
    }
}

/// The smallest whole factor that brings `width` to at most `max_working_width`.
fn downscale_for(width: i32, max_working_width: i32) -> i32 {
    let max_working_width = max_working_width.max(1);
    ((width + max_working_width - 1) / max_working_width).max(1)
}

/// `frame` shrunk by `downscale`, in grey. Shrinking first (bilinear, as BoT-SORT does) makes the
/// grey conversion touch a fraction of the pixels: converting a whole 1080p frame alone costs
/// more than the rest of the estimate.
fn working_grey(frame: &Mat, downscale: i32) -> Result<Mat> {
    let small = if downscale == 1 {
        frame.try_clone()
    } else {
        let size = Size::new(frame.cols() / downscale, frame.rows() / downscale);
        let mut small = Mat::default();
        imgproc::resize(frame, &mut small, size, 0.0, 0.0, imgproc::INTER_LINEAR).map(|_| small)
    }
    .internal_err(|| "camera motion: shrinking".into())?;
    let code = match small.channels() {
        1 => return Ok(small),
        4 => imgproc::COLOR_BGRA2GRAY,
        _ => imgproc::COLOR_BGR2GRAY,
    };
    let mut grey = Mat::default();
    imgproc::cvt_color_def(&small, &mut grey, code)
        .internal_err(|| "camera motion: grey conversion".into())?;
    Ok(grey)
}

/// 255 where corners may be taken: inside the border margin and outside every box.
fn corner_mask(
    size: Size,
    boxes: &[BBox],
    downscale: i32,
    config: &MotionConfig,
) -> opencv::Result<Mat> {
    let mut mask = Mat::new_size_with_default(size, CV_8UC1, Scalar::all(0.0))?;
    let margin_x = (size.width as f64 * config.border_fraction) as i32;
    let margin_y = (size.height as f64 * config.border_fraction) as i32;
    let inside = Rect::new(
        margin_x,
        margin_y,
        size.width - 2 * margin_x,
        size.height - 2 * margin_y,
    );
    fill(&mut mask, inside, 255.0)?;
    let scale = downscale as f32;
    for b in boxes.iter().filter(|b| b.area() > 0.0) {
        // Rounded outwards so a box's edge pixels are masked too; `rectangle` clips to the mask.
        let top_left = Point::new((b.x1 / scale).floor() as i32, (b.y1 / scale).floor() as i32);
        let bottom_right = Point::new((b.x2 / scale).ceil() as i32, (b.y2 / scale).ceil() as i32);
        fill(&mut mask, Rect::from_points(top_left, bottom_right), 0.0)?;
    }
    Ok(mask)
}

fn fill(mask: &mut Mat, rect: Rect, value: f64) -> opencv::Result<()> {
    imgproc::rectangle(
        mask,
        rect,
        Scalar::all(value),
        imgproc::FILLED,
        imgproc::LINE_8,
        0,
    )
}

/// Pyramidal Lucas–Kanade from `previous` to `current` with OpenCV's (and BoT-SORT's) defaults;
/// the corners found again, as pairs (where they were, where they are).
fn follow_corners(
    previous: &Mat,
    current: &Mat,
    corners: &Vector<Point2f>,
) -> opencv::Result<(Vector<Point2f>, Vector<Point2f>)> {
    let mut from = Vector::<Point2f>::new();
    let mut to = Vector::<Point2f>::new();
    if corners.is_empty() {
        return Ok((from, to));
    }
    let mut found = Vector::<Point2f>::new();
    let mut status = Vector::<u8>::new();
    let mut error = Vector::<f32>::new();
    video::calc_optical_flow_pyr_lk(
        previous,
        current,
        corners,
        &mut found,
        &mut status,
        &mut error,
        Size::new(21, 21),
        3,
        TermCriteria::new(
            opencv::core::TermCriteria_COUNT + opencv::core::TermCriteria_EPS,
            30,
            0.01,
        )?,
        0,
        1e-4,
    )?;
    for ((corner, now), ok) in corners.iter().zip(found.iter()).zip(status.iter()) {
        if ok == 1 {
            from.push(corner);
            to.push(now);
        }
    }
    Ok((from, to))
}

/// The rotation + uniform scale + translation best agreeing with the corner pairs (RANSAC, then
/// refined on the inliers), in working pixels, with which pairs fit it; `None` when OpenCV finds
/// none.
fn fit_similarity(
    from: &Vector<Point2f>,
    to: &Vector<Point2f>,
    ransac_threshold_px: f64,
) -> opencv::Result<Option<(Affine, Vec<bool>)>> {
    let mut inliers = Mat::default();
    let fitted = calib3d::estimate_affine_partial_2d(
        from,
        to,
        &mut inliers,
        calib3d::RANSAC,
        ransac_threshold_px,
        2000,
        0.99,
        10,
    )?;
    if fitted.empty() || fitted.rows() != 2 || fitted.cols() != 3 {
        return Ok(None);
    }
    let mut values = [0.0; 6];
    for (i, value) in values.iter_mut().enumerate() {
        *value = *fitted.at_2d::<f64>(i as i32 / 3, i as i32 % 3)?;
    }
    let flags = inliers.data_bytes()?.iter().map(|&b| b != 0).collect();
    Ok(Some((Affine(values), flags)))
}

/// A warp measured on frames shrunk by `downscale` (bilinear, sampled at the centre of each
/// `downscale`² block), expressed in full-resolution pixels. Pixel centres map as
/// `full = downscale · working + (downscale − 1)/2`, so besides scaling the translation (all
/// BoT-SORT does) the linear part's effect on that half-block offset is undone; it matters by
/// hundredths of a pixel only when the camera zooms or turns.
fn to_full_resolution(working: &Affine, downscale: i32) -> Affine {
    let [a, b, c, d, e, f] = working.0;
    let scale = downscale as f64;
    let offset = (scale - 1.0) / 2.0;
    Affine([
        a,
        b,
        scale * c + offset * (1.0 - a - b),
        d,
        e,
        scale * f + offset * (1.0 - d - e),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{CV_32FC1, CV_8UC3};

    /// A 640×480 BGR frame of smooth random-looking texture, its content shifted by `(dx, dy)`
    /// whole pixels, so corners and flow have something to hold on to.
    fn textured_frame(dx: i32, dy: i32) -> Mat {
        let (w, h) = (640, 480);
        let mut frame = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0)).unwrap();
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = ((x - dx) as u32, (y - dy) as u32);
                // Blocks of 8×8 with pseudo-random levels: many strong corners.
                let cell = (sx.wrapping_div(8)).wrapping_mul(7919)
                    ^ (sy.wrapping_div(8)).wrapping_mul(104_729);
                let level = (cell.wrapping_mul(2_654_435_761) >> 24) as u8;
                *frame.at_2d_mut::<opencv::core::Vec3b>(y, x).unwrap() =
                    opencv::core::Vec3b::from([level, level, level]);
            }
        }
        frame
    }

    #[test]
    fn the_first_frame_gives_the_identity_and_a_shift_is_measured() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        let first = estimator.estimate(&textured_frame(0, 0), &[]).unwrap();
        assert_eq!(first, Affine::IDENTITY);
        assert!(!estimator.last_measured());
        let warp = estimator.estimate(&textured_frame(6, -4), &[]).unwrap();
        assert!(estimator.last_measured());
        let moved = warp.apply([320.0, 240.0]);
        assert!(
            (moved[0] - 326.0).abs() < 0.5 && (moved[1] - 236.0).abs() < 0.5,
            "{warp:?}"
        );
    }

    #[test]
    fn corners_that_fit_are_followed_on_until_an_object_covers_too_many() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        estimator.estimate(&textured_frame(0, 0), &[]).unwrap();
        let searched = estimator.previous.as_ref().unwrap().searched;
        assert!(searched > 100, "{searched} corners on the texture");
        // Each step: measured right, and the corners carried on (no new search: they moved
        // with the texture, which a fresh search would not give).
        for step in 1..=4 {
            let warp = estimator
                .estimate(&textured_frame(3 * step, 0), &[])
                .unwrap();
            assert!((warp.apply([0.0, 0.0])[0] - 3.0).abs() < 0.5, "{warp:?}");
            let carried = &estimator.previous.as_ref().unwrap().corners;
            assert!(carried.len() >= searched / 2 && carried.len() <= searched);
            if step % 2 == 1 {
                // 1.5 working pixels a step: a search would give whole pixels.
                assert!(carried.iter().all(|p| (p.x.fract() - 0.5).abs() < 0.2));
            }
        }
        let before = estimator.previous.as_ref().unwrap().corners.len();
        // An object over the left two thirds of the frame: the carried corners there go, too few
        // remain, and the corners are searched afresh outside it.
        let object = [BBox::new(0.0, 0.0, 430.0, 480.0)];
        let warp = estimator.estimate(&textured_frame(15, 0), &object).unwrap();
        assert!((warp.apply([0.0, 0.0])[0] - 3.0).abs() < 0.5, "{warp:?}");
        let after = estimator.previous.as_ref().unwrap();
        assert_ne!(after.corners.len(), before);
        assert_eq!(after.corners.len(), after.searched, "a fresh search");
        assert!(
            after.corners.iter().all(|p| p.x >= 215.0),
            "none on the object"
        );
    }

    #[test]
    fn bad_frames_give_the_identity_and_start_afresh() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        estimator.estimate(&textured_frame(0, 0), &[]).unwrap();
        for bad in [
            Mat::default(),
            Mat::new_rows_cols_with_default(1, 1, CV_8UC3, Scalar::all(0.0)).unwrap(),
        ] {
            assert_eq!(estimator.estimate(&bad, &[]).unwrap(), Affine::IDENTITY);
            assert!(estimator.previous.is_none(), "reset after a bad frame");
        }
        // After a reset, the next good frame is a first frame again.
        estimator.estimate(&textured_frame(0, 0), &[]).unwrap();
        let warp = estimator.estimate(&textured_frame(3, 0), &[]).unwrap();
        assert!(estimator.last_measured(), "measures again after the reset");
        assert!((warp.apply([0.0, 0.0])[0] - 3.0).abs() < 0.5, "{warp:?}");
    }

    #[test]
    fn a_resolution_change_gives_the_identity_and_starts_afresh() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        estimator.estimate(&textured_frame(0, 0), &[]).unwrap();
        let mut smaller = Mat::default();
        imgproc::resize(
            &textured_frame(5, 5),
            &mut smaller,
            Size::new(320, 240),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .unwrap();
        assert_eq!(estimator.estimate(&smaller, &[]).unwrap(), Affine::IDENTITY);
        assert!(!estimator.last_measured());
        assert_eq!(
            estimator.previous.as_ref().unwrap().full_size,
            Size::new(320, 240),
            "the new resolution is the new reference"
        );
    }

    #[test]
    fn unreadable_pixel_formats_are_the_callers_error() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        let float = Mat::new_rows_cols_with_default(480, 640, CV_32FC1, Scalar::all(0.0)).unwrap();
        assert!(matches!(
            estimator.estimate(&float, &[]),
            Err(Error::Input(_))
        ));
    }

    #[test]
    fn a_blank_frame_has_no_corners_and_falls_back_to_the_identity() {
        let mut estimator = MotionEstimator::new(MotionConfig::default());
        let blank = Mat::new_rows_cols_with_default(480, 640, CV_8UC3, Scalar::all(90.0)).unwrap();
        estimator.estimate(&blank, &[]).unwrap();
        assert_eq!(estimator.estimate(&blank, &[]).unwrap(), Affine::IDENTITY);
        assert!(!estimator.last_measured());
    }

    #[test]
    fn boxes_and_the_border_are_masked() {
        let config = MotionConfig::default();
        let boxes = [BBox::new(100.0, 100.0, 200.0, 300.0)];
        let mask = corner_mask(Size::new(320, 240), &boxes, 2, &config).unwrap();
        let at = |x: i32, y: i32| *mask.at_2d::<u8>(y, x).unwrap();
        assert_eq!(at(0, 0), 0, "border");
        assert_eq!(at(319, 239), 0, "border");
        assert_eq!(at(75, 100), 0, "inside the box (150, 200 at full size)");
        assert_eq!(at(160, 120), 255, "open ground");
    }

    #[test]
    fn downscale_is_the_smallest_whole_factor_that_fits() {
        assert_eq!(downscale_for(1920, 320), 6);
        assert_eq!(downscale_for(1920, 480), 4);
        assert_eq!(downscale_for(640, 480), 2);
        assert_eq!(downscale_for(480, 480), 1);
        assert_eq!(
            downscale_for(100, 0),
            100,
            "a zero limit does not divide by zero"
        );
    }

    #[test]
    fn working_warps_map_pixel_centres_at_full_resolution() {
        // A 1 % zoom about the working origin, shrunk by 4.
        let working = Affine([1.01, 0.0, 2.0, 0.0, 1.01, -1.0]);
        let full = to_full_resolution(&working, 4);
        for p in [[0.0, 0.0], [100.0, 50.0], [479.0, 269.0]] {
            let full_p = [4.0 * p[0] + 1.5, 4.0 * p[1] + 1.5];
            let q = working.apply(p);
            let expected = [4.0 * q[0] + 1.5, 4.0 * q[1] + 1.5];
            let got = full.apply(full_p);
            assert!((got[0] - expected[0]).abs() < 1e-9 && (got[1] - expected[1]).abs() < 1e-9);
        }
        assert_eq!(to_full_resolution(&working, 1), working);
    }
}
