//! The geometry every stage shares: axis-aligned boxes in pixel coordinates and their overlap,
//! the camera's motion between frames (`Affine`), and the segments and polygons of lines, zones
//! and masks (`shapes.rs`).

use serde::Serialize;

mod shapes;

pub(crate) use shapes::norm;
pub use shapes::{Point, Polygon, Segment};

/// A box by its corners, `(x1, y1)` top-left and `(x2, y2)` bottom-right, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// From centre and size, as detectors and the Kalman state describe boxes.
    pub fn from_cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    /// From top-left corner and size, as MOTChallenge files describe boxes.
    pub fn from_tlwh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self::new(x, y, x + w, y + h)
    }

    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// `[x, y, w, h]` with `(x, y)` the top-left corner.
    pub fn tlwh(&self) -> [f32; 4] {
        [self.x1, self.y1, self.width(), self.height()]
    }

    /// Intersection over union; 0 for disjoint or degenerate boxes.
    /// The area the two boxes share.
    pub fn intersection(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        iw * ih
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Camera motion smaller than this at the frame's corners, in pixels, is taken for none.
pub const MIN_CAMERA_SHIFT_PX: f64 = 1.0;

/// A 2×3 affine map of image points, `[x', y'] = [[a, b, c], [d, e, f]] · [x, y, 1]`: how the
/// camera moved from one frame to the next (the previous frame's coordinates → this frame's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine(pub [f64; 6]);

impl Affine {
    pub const IDENTITY: Self = Self([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let [a, b, c, d, e, f] = self.0;
        [a * p[0] + b * p[1] + c, d * p[0] + e * p[1] + f]
    }

    /// The motion `first`, then this one (`self ∘ first`): how the camera moved across a frame
    /// that was dropped.
    pub fn after(&self, first: &Affine) -> Affine {
        let [a, b, c, d, e, f] = self.0;
        let [p, q, r, s, t, u] = first.0;
        Affine([
            a * p + b * s,
            a * q + b * t,
            a * r + b * u + c,
            d * p + e * s,
            d * q + e * t,
            d * r + e * u + f,
        ])
    }

    /// The map back (this frame's coordinates → the previous frame's); `None` when the map
    /// folds the plane flat.
    pub fn inverse(&self) -> Option<Affine> {
        let [a, b, c, d, e, f] = self.0;
        let det = a * e - b * d;
        if !(det.is_finite() && det.abs() > 1e-12) {
            return None;
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Some(Affine([
            ia,
            ib,
            -(ia * c + ib * f),
            id,
            ie,
            -(id * c + ie * f),
        ]))
    }

    /// The linear part `[[a, b], [d, e]]` (rotation, scale, shear), which also moves velocities
    /// and sizes.
    pub fn linear(&self) -> [[f64; 2]; 2] {
        let [a, b, _, d, e, _] = self.0;
        [[a, b], [d, e]]
    }

    /// How far the map moves points of a `width`×`height` frame at most (its corners), pixels.
    pub fn corner_shift(&self, width: f64, height: f64) -> f64 {
        [[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]]
            .iter()
            .map(|&p| {
                let q = self.apply(p);
                (q[0] - p[0]).hypot(q[1] - p[1])
            })
            .fold(0.0, f64::max)
    }

    /// How much the map scales areas' sides (√|det|): what it does to a box's width and height,
    /// whatever small rotation comes with it.
    pub fn scale(&self) -> f64 {
        let [[a, b], [d, e]] = self.linear();
        (a * e - b * d).abs().sqrt()
    }

    /// Whether this is no motion at all (the common case of a static camera: nothing to do).
    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// A box carried by the map: its centre moved, its size scaled. The identity leaves it
    /// exactly as it is (no rounding through centre and size), so a fixed camera changes nothing.
    pub fn apply_box(&self, b: &BBox) -> BBox {
        if self.is_identity() {
            return *b;
        }
        let (cx, cy) = b.center();
        let [x, y] = self.apply([cx as f64, cy as f64]);
        let s = self.scale() as f32;
        BBox::from_cxcywh(x as f32, y as f32, b.width() * s, b.height() * s)
    }

    /// This map, or the identity when it moves no corner of a `width`×`height` frame by
    /// `MIN_CAMERA_SHIFT_PX` or more: estimates of a static camera's motion are noise of that
    /// size (0.1–0.8 px on MOT17's static sequences), and following noise costs identities.
    pub fn or_identity_below_noise(self, width: f64, height: f64) -> Self {
        if self.corner_shift(width, height) < MIN_CAMERA_SHIFT_PX {
            Self::IDENTITY
        } else {
            self
        }
    }

    /// Finite, invertible, and within what a camera can do between two frames (zoom by at most
    /// 2× either way, shift by less than 10,000 px): a map a tracker can move its state with.
    /// Anything else is a broken estimate or file, and repeated it would overflow the tracker's
    /// state (found by fuzzing).
    pub fn is_usable(&self) -> bool {
        let [a, b, c, d, e, f] = self.0;
        // The scale's bounds squared: no square root for a check run per track and frame.
        self.0.iter().all(|v| v.is_finite())
            && (0.25..=4.0).contains(&(a * e - b * d).abs())
            && b.abs() <= 1.0
            && d.abs() <= 1.0
            && c.abs() < 1e4
            && f.abs() < 1e4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_affine_undone_by_its_inverse_is_the_identity() {
        let turn = Affine([0.98, -0.05, 12.0, 0.05, 0.98, -7.0]);
        let back = turn.inverse().unwrap();
        for m in [back.after(&turn), turn.after(&back)] {
            assert!(m
                .0
                .iter()
                .zip(Affine::IDENTITY.0)
                .all(|(a, b)| (a - b).abs() < 1e-12));
        }
        assert_eq!(Affine([0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).inverse(), None);
    }

    #[test]
    fn an_affine_moves_points_and_reports_its_largest_shift() {
        let shift = Affine([1.0, 0.0, 3.0, 0.0, 1.0, -4.0]);
        assert_eq!(shift.apply([10.0, 10.0]), [13.0, 6.0]);
        assert_eq!(shift.corner_shift(640.0, 480.0), 5.0);
        assert_eq!(Affine::IDENTITY.corner_shift(640.0, 480.0), 0.0);
        assert!(shift.is_usable());
        assert!(
            !Affine([0.0, 0.0, 1.0, 0.0, 0.0, 1.0]).is_usable(),
            "singular"
        );
        assert!(!Affine([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]).is_usable());
    }

    #[test]
    fn iou_of_identical_boxes_is_one() {
        let b = BBox::new(10.0, 10.0, 20.0, 30.0);
        assert_eq!(b.iou(&b), 1.0);
    }

    #[test]
    fn iou_of_disjoint_boxes_is_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(10.0, 0.0, 20.0, 10.0);
        assert_eq!(a.iou(&b), 0.0);
    }

    #[test]
    fn iou_of_half_overlap() {
        // Two 10x10 boxes sharing a 5x10 strip: 50 / (100 + 100 - 50) = 1/3.
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_degenerate_box_is_zero() {
        let a = BBox::new(0.0, 0.0, 0.0, 0.0);
        assert_eq!(a.iou(&a), 0.0);
    }

    #[test]
    fn conversions_round_trip() {
        let b = BBox::from_cxcywh(50.0, 40.0, 20.0, 10.0);
        assert_eq!(b.tlwh(), [40.0, 35.0, 20.0, 10.0]);
        assert_eq!(BBox::from_tlwh(40.0, 35.0, 20.0, 10.0), b);
        assert_eq!(b.center(), (50.0, 40.0));
    }
}
