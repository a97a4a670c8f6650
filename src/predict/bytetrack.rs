//! ByteTrack's Kalman filter (`yolox/tracker/kalman_filter.py`), as the baseline look-ahead:
//! state `[cx, cy, a, h]` (a = w/h) and their velocities, stepped per *frame*, with process and
//! measurement noise proportional to the height: position std 1/20 · h, velocity std 1/160 · h.
//!
//! Its matrices never mix coordinates (the transition pairs each coordinate with its own velocity;
//! the noises are diagonal), so it is computed as four independent 2-state filters — exactly the
//! 8×8 filter's numbers, without the products.

use super::kalman_axis::KalmanAxis as Axis;
use super::{cxcywh, Forecast, LookAhead};
use crate::geom::BBox;

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

/// The per-axis weights of `[cx, cy, a, h]`: the aspect ratio has fixed small noises.
fn stds(h: f64, weight: f64, aspect: f64) -> [f64; 4] {
    [weight * h, weight * h, aspect, weight * h]
}

#[derive(Clone, Debug)]
pub struct ByteTrackKalman {
    fps: f64,
    axes: Option<[Axis; 4]>,
    last_time_s: f64,
}

impl ByteTrackKalman {
    /// A filter for a sequence of `fps` frames per second (its noises are per frame).
    pub fn new(fps: f64) -> Self {
        Self {
            fps,
            axes: None,
            last_time_s: 0.0,
        }
    }

    fn frames_between(&self, from_s: f64, to_s: f64) -> u32 {
        ((to_s - from_s) * self.fps).round().max(0.0) as u32
    }
}

fn measurement(b: &BBox) -> [f64; 4] {
    let [cx, cy, w, h] = cxcywh(b);
    [cx, cy, w / h.max(1e-9), h]
}

fn initiate(z: [f64; 4]) -> [Axis; 4] {
    let h = z[3];
    let pos = stds(h, 2.0 * STD_WEIGHT_POSITION, 1e-2);
    let vel = stds(h, 10.0 * STD_WEIGHT_VELOCITY, 1e-5);
    std::array::from_fn(|i| Axis {
        pos: z[i],
        vel: 0.0,
        pp: pos[i].powi(2),
        pv: 0.0,
        vv: vel[i].powi(2),
    })
}

fn predict(axes: &mut [Axis; 4]) {
    let h = axes[3].pos;
    let (q_pos, q_vel) = (
        stds(h, STD_WEIGHT_POSITION, 1e-2),
        stds(h, STD_WEIGHT_VELOCITY, 1e-5),
    );
    for (i, axis) in axes.iter_mut().enumerate() {
        axis.predict(1.0, q_pos[i].powi(2), q_vel[i].powi(2)); // one frame
    }
}

fn update(axes: &mut [Axis; 4], z: [f64; 4]) {
    let r = stds(axes[3].pos, STD_WEIGHT_POSITION, 1e-1);
    for (i, axis) in axes.iter_mut().enumerate() {
        axis.update(z[i], r[i].powi(2));
    }
}

impl LookAhead for ByteTrackKalman {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        let z = measurement(bbox);
        let steps = self.frames_between(self.last_time_s, time_s);
        match &mut self.axes {
            None => self.axes = Some(initiate(z)),
            Some(axes) => {
                for _ in 0..steps {
                    predict(axes);
                }
                update(axes, z);
            }
        }
        self.last_time_s = time_s;
    }

    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let mut axes = self.axes?;
        for _ in 0..self.frames_between(self.last_time_s, time_s) {
            predict(&mut axes);
        }
        let [cx, cy, a, h] = axes.map(|a| a.pos);
        Some(Forecast {
            center: [cx, cy],
            size: [a * h, h],
            cov: [axes[0].pp, 0.0, axes[1].pp],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_and_first_step_covariances_are_bytetracks() {
        // h = 100: initial position std 2·100/20 = 10, velocity std 10·100/160 = 6.25.
        let mut kf = ByteTrackKalman::new(30.0);
        kf.observe(0.0, &BBox::from_cxcywh(50.0, 60.0, 40.0, 100.0));
        let axes = kf.axes.unwrap();
        assert_eq!(axes[0].pp, 100.0);
        assert_eq!(axes[3].vv, 6.25f64.powi(2));
        assert!((axes[2].pos - 0.4).abs() < 1e-12);
        // One frame ahead: 100 + 39.0625 + (100/20)² = 164.0625.
        let f = kf.forecast(1.0 / 30.0).unwrap();
        assert!((f.cov[0] - 164.0625).abs() < 1e-9, "{f:?}");
        assert_eq!(f.center, [50.0, 60.0]);
        assert!((f.size[0] - 40.0).abs() < 1e-9);
    }

    #[test]
    fn update_matches_the_matrix_filter_by_hand() {
        let mut kf = ByteTrackKalman::new(10.0);
        kf.observe(0.0, &BBox::from_cxcywh(0.0, 0.0, 50.0, 100.0));
        kf.observe(0.1, &BBox::from_cxcywh(10.0, 0.0, 50.0, 100.0));
        // Predicted pp = 164.0625, pv = 39.0625; r = 25; s = 189.0625.
        let axes = kf.axes.unwrap();
        let s = 164.0625 + 25.0;
        assert!((axes[0].pos - 10.0 * 164.0625 / s).abs() < 1e-9);
        assert!((axes[0].vel - 10.0 * 39.0625 / s).abs() < 1e-9);
    }

    #[test]
    fn forecasts_step_whole_frames_and_learn_motion() {
        let mut kf = ByteTrackKalman::new(30.0);
        for i in 0..90 {
            let t = i as f64 / 30.0;
            kf.observe(
                t,
                &BBox::from_cxcywh((2.0 * i as f64) as f32, 0.0, 40.0, 100.0),
            );
        }
        // 2 px per frame: a second (30 frames) ahead of frame 89 is about 178 + 60.
        let f = kf.forecast(89.0 / 30.0 + 1.0).unwrap();
        assert!((f.center[0] - 238.0).abs() < 3.0, "{f:?}");
    }
}
