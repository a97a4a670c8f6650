//! Look-ahead: where an object's box will be some seconds from now, with a 2×2 covariance of its
//! centre. Pure: no I/O.
//!
//! Each model is a per-trajectory state fed `(time_s, box)` observations and asked for the box at
//! any later time. The same state runs inside the tracker (fed each track's matched detections)
//! and in `vigil eval-predict` (fed ground-truth boxes), so what is measured is what ships.
//! It never touches the tracker's association Kalman filter.
//!
//! - `models.rs`: the candidates (constant position, velocity from the last two boxes, an
//!   IMM-style mix of both, and the default: a robust velocity from a window of recent boxes).
//! - `bytetrack.rs`: ByteTrack's Kalman filter, faithfully, as the baseline to beat.
//! - `score.rs`: the scoring of forecasts against where objects really went.

mod bytetrack;
mod camera;
mod kalman_axis;
mod learned;
mod learned_weights;
mod models;
mod record;
pub use record::{PictureRecord, Prior, ScenePrior};
pub mod score;

use crate::frame::Prediction;
use crate::geom::BBox;

pub use bytetrack::ByteTrackKalman;
pub use camera::CameraForecast;
pub(crate) use kalman_axis::KalmanAxis;
pub use learned::{LearnedVelocity, LookAheadWeights};
pub use models::{
    ConstantPosition, Imm, ImmParams, LastTwoVelocity, RegressionParams, Spread, WindowRegression,
};

/// A forecast box: centre `[cx, cy]`, size `[w, h]`, and the centre's covariance
/// `[sxx, sxy, syy]` in pixels².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    pub center: [f64; 2],
    pub size: [f64; 2],
    pub cov: [f64; 3],
}

impl Forecast {
    /// The box, as the tracker reports it.
    pub fn bbox(&self) -> BBox {
        BBox::from_cxcywh(
            self.center[0] as f32,
            self.center[1] as f32,
            self.size[0] as f32,
            self.size[1] as f32,
        )
    }

    /// Squared Mahalanobis distance of a point from the forecast centre; infinite when the
    /// covariance is degenerate.
    pub fn mahalanobis2(&self, point: [f64; 2]) -> f64 {
        let [sxx, sxy, syy] = self.cov;
        let det = sxx * syy - sxy * sxy;
        if det.is_nan() || det <= 0.0 {
            return f64::INFINITY;
        }
        let (dx, dy) = (point[0] - self.center[0], point[1] - self.center[1]);
        (syy * dx * dx - 2.0 * sxy * dx * dy + sxx * dy * dy) / det
    }
}

/// A look-ahead model's state for one trajectory.
pub trait LookAhead {
    /// Records where the object was at `time_s` (increasing from call to call).
    fn observe(&mut self, time_s: f64, bbox: &BBox);
    /// Where it will be at `time_s` (at or after the last observation); `None` before any
    /// observation.
    fn forecast(&self, time_s: f64) -> Option<Forecast>;
}

/// The model the tracker forecasts with (chosen by `vigil eval-predict`; see docs/PREDICTION.md).
pub type DefaultLookAhead = LearnedVelocity;

/// Forecasts made at `now_s` for each horizon, as the tracker reports them; while `camera`
/// forecasts a moving camera, carried through its motion (the scene's forecast kept beside) and
/// adjusted by the track's record in the picture, if it keeps one.
pub fn predictions(
    model: &impl LookAhead,
    now_s: f64,
    horizons_s: &[f32],
    camera: Option<(&CameraForecast, Option<&PictureRecord>)>,
) -> Vec<Prediction> {
    let camera = camera.filter(|(c, _)| c.is_moving());
    let here = model.forecast(now_s).map(|f| f.center);
    let mut out = Vec::with_capacity(horizons_s.len());
    out.extend(horizons_s.iter().filter_map(|&dt_s| {
        let f = model.forecast(now_s + dt_s as f64)?;
        let tau = dt_s as f64;
        let in_picture = match (camera, here) {
            (Some((c, Some(record))), Some(here)) => record.adjust(here, c.carry(&f, tau), tau),
            (Some((c, _)), _) => c.carry(&f, tau),
            _ => f,
        };
        Some(Prediction {
            dt_s,
            bbox: in_picture.bbox(),
            cov_xy: in_picture.cov.map(|v| v as f32),
            scene: camera.map(|_| (f.bbox(), f.cov.map(|v| v as f32))),
        })
    }));
    out
}

/// Box centre and size as `[cx, cy, w, h]` in f64.
pub(crate) fn cxcywh(b: &BBox) -> [f64; 4] {
    let (cx, cy) = b.center();
    [cx as f64, cy as f64, b.width() as f64, b.height() as f64]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mahalanobis_distance_of_an_axis_aligned_ellipse() {
        let f = Forecast {
            center: [0.0, 0.0],
            size: [10.0, 20.0],
            cov: [4.0, 0.0, 16.0],
        };
        assert!((f.mahalanobis2([2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((f.mahalanobis2([2.0, 4.0]) - 2.0).abs() < 1e-12);
        let flat = Forecast {
            cov: [0.0, 0.0, 1.0],
            ..f
        };
        assert!(flat.mahalanobis2([1.0, 0.0]).is_infinite());
    }

    #[test]
    fn predictions_are_relative_to_now_even_for_a_track_unseen_for_a_while() {
        let mut m = LastTwoVelocity::default();
        m.observe(0.0, &BBox::from_cxcywh(0.0, 0.0, 10.0, 20.0));
        m.observe(1.0, &BBox::from_cxcywh(10.0, 0.0, 10.0, 20.0));
        // Now is 1.5 s (unseen since 1.0); 1 s ahead is 2.5 s: 25 px.
        let p = predictions(&m, 1.5, &[1.0], None);
        assert_eq!(p[0].dt_s, 1.0);
        assert!((p[0].bbox.center().0 - 25.0).abs() < 1e-4, "{p:?}");
    }
}
