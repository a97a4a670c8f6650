//! One coordinate of a constant-velocity Kalman filter: position and velocity with their 2×2
//! covariance. Filters whose matrices never mix coordinates are a few of these side by side:
//! ByteTrack's (`bytetrack.rs`) and the tracker's `KalmanBox` (`track/kalman.rs`), which
//! imports it from here.

/// One coordinate and its velocity, with their 2×2 covariance `[[pp, pv], [pv, vv]]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct KalmanAxis {
    pub(crate) pos: f64,
    pub(crate) vel: f64,
    pub(crate) pp: f64,
    pub(crate) pv: f64,
    pub(crate) vv: f64,
}

impl KalmanAxis {
    pub(crate) fn predict(&mut self, dt: f64, q_pos: f64, q_vel: f64) {
        self.pos += self.vel * dt;
        self.pp += 2.0 * dt * self.pv + dt * dt * self.vv + q_pos;
        self.pv += dt * self.vv;
        self.vv += q_vel;
    }

    pub(crate) fn update(&mut self, z: f64, r: f64) {
        let s = self.pp + r;
        if s <= 0.0 || !s.is_finite() {
            return; // degenerate covariance: keep the prediction rather than poison the state
        }
        let (k_pos, k_vel) = (self.pp / s, self.pv / s);
        let innovation = z - self.pos;
        self.pos += k_pos * innovation;
        self.vel += k_vel * innovation;
        self.vv -= k_vel * self.pv;
        self.pp *= 1.0 - k_pos;
        self.pv *= 1.0 - k_pos;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis() -> KalmanAxis {
        KalmanAxis {
            pos: 10.0,
            vel: 2.0,
            pp: 4.0,
            pv: 0.0,
            vv: 1.0,
        }
    }

    #[test]
    fn predict_moves_by_velocity_and_grows_the_covariance() {
        let mut a = axis();
        a.predict(0.5, 0.25, 0.5);
        assert_eq!(a.pos, 11.0);
        // pp + 2 dt pv + dt² vv + q = 4 + 0 + 0.25 + 0.25; pv + dt vv; vv + q.
        assert_eq!((a.pp, a.pv, a.vv), (4.5, 0.5, 1.5));
    }

    #[test]
    fn update_blends_by_variance_and_ignores_a_degenerate_covariance() {
        let mut a = axis();
        // Gain 4 / (4 + 1) = 0.8 toward the measurement 15.
        a.update(15.0, 1.0);
        assert!((a.pos - 14.0).abs() < 1e-12);
        assert!((a.pp - 0.8).abs() < 1e-12);
        let degenerate = KalmanAxis { pp: 0.0, ..axis() };
        let mut b = degenerate;
        b.update(15.0, 0.0);
        assert_eq!(b, degenerate, "kept the prediction");
    }
}
