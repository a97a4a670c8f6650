//! A constant-velocity Kalman filter over box centre and size, stepped by elapsed seconds.
//!
//! State `[cx, cy, w, h]` with a velocity for each, in pixels per second. Noise scales with
//! the box size (a 300 px tall person jitters more in pixels than a 30 px one), following
//! SORT/ByteTrack, but with width and height as separate states (as BoT-SORT does) so that the
//! predicted box is not distorted by an aspect-ratio velocity.
//!
//! ByteTrack's noise weights are per frame at its reference rate; here process noise is a rate
//! that grows linearly with elapsed time, so a skipped frame costs exactly as much uncertainty
//! as two steps of half the interval.
//!
//! The transition, process noise, measurement and measurement noise never mix coordinates, so
//! the 8-state filter is exactly four independent (position, velocity) filters; computing it
//! that way is an order of magnitude cheaper than 8×8 matrix products.

use crate::geom::Affine;
use crate::predict::KalmanAxis as Axis;

/// Noise weights, relative to box size. Defaults are ByteTrack's at 30 frames/s.
#[derive(Clone, Copy, Debug)]
pub struct KalmanNoise {
    /// Std of position per reference interval, as a fraction of box size.
    pub position: f64,
    /// Std of velocity per reference interval, as a fraction of box size per reference interval.
    pub velocity: f64,
    /// The interval the weights were tuned for, in seconds.
    pub reference_dt: f64,
}

impl Default for KalmanNoise {
    fn default() -> Self {
        Self {
            position: 1.0 / 20.0,
            velocity: 1.0 / 160.0,
            reference_dt: 1.0 / 30.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KalmanBox {
    /// cx, cy, w, h.
    axes: [Axis; 4],
}

impl KalmanBox {
    /// Starts a track at a measured box `[cx, cy, w, h]` with unknown velocity.
    pub fn new(z: [f64; 4], noise: &KalmanNoise) -> Self {
        let size = size_of(z[2], z[3]);
        let axes = std::array::from_fn(|i| Axis {
            pos: z[i],
            vel: 0.0,
            pp: (2.0 * noise.position * size[i]).powi(2),
            pv: 0.0,
            vv: (10.0 * noise.velocity * size[i] / noise.reference_dt).powi(2),
        });
        Self { axes }
    }

    /// `[cx, cy, w, h]` of the current estimate.
    pub fn state_box(&self) -> [f64; 4] {
        self.axes.map(|a| a.pos)
    }

    /// `[vcx, vcy]` in pixels per second.
    pub fn velocity(&self) -> [f64; 2] {
        [self.axes[0].vel, self.axes[1].vel]
    }

    /// Covariance of the centre, `[sxx, sxy, syy]` (x and y are filtered independently, so
    /// `sxy` is 0). Forecasts are `predict`'s; this is for checking the filter.
    #[cfg(test)]
    pub fn center_cov(&self) -> [f64; 3] {
        [self.axes[0].pp, 0.0, self.axes[1].pp]
    }

    /// Carries the estimate into the coordinates of a camera that moved by `m` (this frame's
    /// from the previous frame's): positions through the whole map, velocities through its
    /// linear part, width and height by its scale. Covariances follow; the x–y cross terms that
    /// four independent axes cannot hold are dropped, which costs nothing measurable for real
    /// camera motion (rotations of a fraction of a degree between frames) and keeps pure
    /// translations — most frames of a panning camera — to two additions.
    pub fn warp(&mut self, m: &Affine) {
        let [[a, b], [d, e]] = m.linear();
        let [_, _, c, _, _, f] = m.0;
        let [x, y, w, h] = &mut self.axes;
        if a == 1.0 && e == 1.0 && b == 0.0 && d == 0.0 {
            x.pos += c;
            y.pos += f;
            return;
        }
        let (x0, y0) = (*x, *y);
        let mix = |p: f64, q: f64, u: f64, v: f64| p * u + q * v;
        x.pos = mix(a, b, x0.pos, y0.pos) + c;
        y.pos = mix(d, e, x0.pos, y0.pos) + f;
        x.vel = mix(a, b, x0.vel, y0.vel);
        y.vel = mix(d, e, x0.vel, y0.vel);
        for (axis, (p, q)) in [(&mut *x, (a, b)), (&mut *y, (d, e))] {
            axis.pp = mix(p * p, q * q, x0.pp, y0.pp);
            axis.pv = mix(p * p, q * q, x0.pv, y0.pv);
            axis.vv = mix(p * p, q * q, x0.vv, y0.vv);
        }
        let s = m.scale();
        for size in [w, h] {
            size.pos *= s;
            size.vel *= s;
            size.pp *= s * s;
            size.pv *= s * s;
            size.vv *= s * s;
        }
    }

    /// Stops any change of width and height (for objects out of sight, whose size cannot be
    /// extrapolated for long).
    pub fn freeze_size(&mut self) {
        self.axes[2].vel = 0.0;
        self.axes[3].vel = 0.0;
    }

    /// Advances the estimate by `dt` seconds.
    pub fn predict(&mut self, dt: f64, noise: &KalmanNoise) {
        if dt <= 0.0 {
            return;
        }
        // A box cannot shrink through zero: stop a collapsing size velocity instead.
        for size in &mut self.axes[2..] {
            if size.pos + size.vel * dt <= 1.0 {
                size.vel = 0.0;
            }
        }
        let size = size_of(self.axes[2].pos, self.axes[3].pos);
        let steps = dt / noise.reference_dt;
        for (axis, s) in self.axes.iter_mut().zip(size) {
            let q_pos = (noise.position * s).powi(2) * steps;
            let q_vel = (noise.velocity * s / noise.reference_dt).powi(2) * steps;
            axis.predict(dt, q_pos, q_vel);
        }
    }

    /// Corrects the estimate with a measured box.
    pub fn update(&mut self, z: [f64; 4], noise: &KalmanNoise) {
        let size = size_of(self.axes[2].pos, self.axes[3].pos);
        for ((axis, s), z) in self.axes.iter_mut().zip(size).zip(z) {
            axis.update(z, (noise.position * s).powi(2));
        }
    }

    /// Where the box will be `dt` seconds from now, and the covariance of its centre then,
    /// without changing the filter (for checking it; the tracker's forecasts are `predict`'s).
    #[cfg(test)]
    pub fn forecast(&self, dt: f64, noise: &KalmanNoise) -> ([f64; 4], [f64; 3]) {
        let mut ahead = self.clone();
        ahead.predict(dt, noise);
        (ahead.state_box(), ahead.center_cov())
    }
}

/// The scale of each coordinate: width for x-like rows, height for y-like rows.
fn size_of(w: f64, h: f64) -> [f64; 4] {
    let (w, h) = (w.abs().max(1.0), h.abs().max(1.0));
    [w, h, w, h]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise() -> KalmanNoise {
        KalmanNoise {
            position: 0.1,
            velocity: 0.05,
            reference_dt: 0.5,
        }
    }

    #[test]
    fn initial_covariance_follows_box_size() {
        let kf = KalmanBox::new([100.0, 50.0, 20.0, 40.0], &noise());
        // position std 2*0.1*w = 4 (x), 2*0.1*h = 8 (y); velocity std 10*0.05*w/0.5 = 20 (x).
        assert_eq!(kf.center_cov(), [16.0, 0.0, 64.0]);
        assert_eq!(kf.axes[0].vv, 400.0);
        assert_eq!(kf.axes[1].vv, 1600.0);
        assert_eq!(kf.velocity(), [0.0, 0.0]);
    }

    #[test]
    fn prediction_moves_by_velocity_and_grows_covariance() {
        let n = noise();
        let mut kf = KalmanBox::new([100.0, 50.0, 20.0, 40.0], &n);
        kf.axes[0].vel = 10.0; // 10 px/s to the right
        kf.predict(1.0, &n);
        assert_eq!(kf.state_box(), [110.0, 50.0, 20.0, 40.0]);
        // Pxx' = Pxx + 2 dt Pxv + dt² Pvv + q = 16 + 0 + 400 + (0.1*20)² * (1/0.5) = 424.
        assert!((kf.center_cov()[0] - 424.0).abs() < 1e-9);
        // Pyy' = 64 + 1600 + (0.1*40)² * 2 = 1696.
        assert!((kf.center_cov()[2] - 1696.0).abs() < 1e-9);
    }

    #[test]
    fn two_half_steps_equal_one_full_step_in_mean() {
        let n = noise();
        let mut a = KalmanBox::new([0.0, 0.0, 10.0, 10.0], &n);
        a.axes[0].vel = 3.0;
        let mut b = a.clone();
        a.predict(1.0, &n);
        b.predict(0.5, &n);
        b.predict(0.5, &n);
        assert_eq!(a.state_box(), b.state_box());
    }

    #[test]
    fn update_blends_prediction_and_measurement_by_their_variances() {
        let n = noise();
        let mut kf = KalmanBox::new([100.0, 100.0, 10.0, 10.0], &n);
        // Prior var of cx: (2*0.1*10)² = 4; measurement var (0.1*10)² = 1.
        // Gain 4/5: cx' = 100 + 0.8 * (105 - 100) = 104; var' = 4 * (1 - 0.8) = 0.8.
        kf.update([105.0, 100.0, 10.0, 10.0], &n);
        assert!((kf.state_box()[0] - 104.0).abs() < 1e-9);
        assert!((kf.center_cov()[0] - 0.8).abs() < 1e-9);
        // Velocity picks up the innovation through the (zero) position-velocity covariance: 0.
        assert_eq!(kf.velocity()[0], 0.0);
    }

    #[test]
    fn a_warp_carries_position_velocity_size_and_covariance() {
        let n = noise();
        let mut kf = KalmanBox::new([100.0, 50.0, 20.0, 40.0], &n);
        kf.axes[0].vel = 10.0;
        let before = kf.clone();
        kf.warp(&Affine([1.0, 0.0, 5.0, 0.0, 1.0, -3.0]));
        assert_eq!(
            kf.state_box(),
            [105.0, 47.0, 20.0, 40.0],
            "translation moves the centre"
        );
        assert_eq!(
            (kf.velocity(), kf.center_cov()),
            (before.velocity(), before.center_cov())
        );
        // A quarter turn with a 2× zoom: x' = -2y, y' = 2x.
        let mut turned = before.clone();
        turned.warp(&Affine([0.0, -2.0, 0.0, 2.0, 0.0, 0.0]));
        assert_eq!(turned.state_box(), [-100.0, 200.0, 40.0, 80.0]);
        assert_eq!(turned.velocity(), [0.0, 20.0]);
        // Variances swap axes and grow by the zoom squared: x' took y's (4·64), y' x's (4·16).
        assert_eq!(turned.center_cov(), [256.0, 0.0, 64.0]);
    }

    #[test]
    fn constant_motion_is_learned() {
        let n = KalmanNoise::default();
        let mut kf = KalmanBox::new([100.0, 100.0, 50.0, 100.0], &n);
        for step in 1..=30 {
            kf.predict(0.1, &n);
            kf.update([100.0 + 5.0 * step as f64, 100.0, 50.0, 100.0], &n);
        }
        // 5 px per 0.1 s = 50 px/s.
        assert!((kf.velocity()[0] - 50.0).abs() < 1.0, "{:?}", kf.velocity());
        let (ahead, cov) = kf.forecast(1.0, &n);
        assert!((ahead[0] - (250.0 + 50.0)).abs() < 2.0, "{ahead:?}");
        assert!(cov[0] > kf.center_cov()[0]);
    }
}
