//! The camera's own motion, forecast. A track's look-ahead lives in the scene's frame: each
//! frame it is carried along with the camera's measured motion, so its forecast says where the
//! object goes *if the camera stood still from now on*. A panning or turning camera does not;
//! what a user sees is where the box will be in the picture. So the camera's motion gets its
//! own forecast — a smoothed rate of its recent warps, held constant — with its own
//! uncertainty, learned from how its earlier forecasts did, and each object forecast is carried
//! through it: the centre moved by the camera's forecast motion, the covariance widened by the
//! camera's forecast error at that point of the picture. Pure.

use std::collections::VecDeque;

use super::Forecast;
use crate::geom::Affine;

/// How long a frame's motion counts in the smoothed rate (an exponential memory).
const RATE_MEMORY_S: f64 = 0.5;
/// How long a check counts in the error's running mean.
const ERROR_MEMORY_S: f64 = 3.0;
/// The horizons the forecast is checked at; beyond the last its error grows with the square of
/// the horizon, below the first likewise toward zero.
const CHECK_S: [f64; 2] = [0.5, 1.0];
/// A camera seen still this long is still: forecasts are left as they are.
const STILL_AFTER_S: f64 = 2.0;

/// The running second moment of one row's parameter error `(a, b, c)`: the error at a point
/// `(x, y)` is `a x + b y + c`.
type Moment = [[f64; 3]; 3];

#[derive(Clone, Debug)]
struct Check {
    due_s: f64,
    horizon: usize,
    /// The camera's total motion when the forecast was made.
    then: Affine,
    forecast: Affine,
}

#[derive(Clone, Debug)]
pub struct CameraForecast {
    /// The smoothed rate of the warp's parameters, per second (the warp less the identity).
    rate: [f64; 6],
    rate_known: bool,
    last_s: Option<f64>,
    /// When the camera last moved.
    moved_s: Option<f64>,
    /// The camera's total motion since the first frame (the first picture → this one).
    total: Affine,
    pending: VecDeque<Check>,
    /// Per check horizon, per image axis: the error's second moment, and when it was updated.
    error: [([Moment; 2], Option<f64>); CHECK_S.len()],
    /// At the longest check horizon, per axis: the second moment of the camera's actual motion
    /// (the error of forecasting no motion), to lean the forecast toward none where it has done
    /// worse than that.
    still: [Moment; 2],
}

impl Default for CameraForecast {
    fn default() -> Self {
        Self {
            rate: [0.0; 6],
            rate_known: false,
            last_s: None,
            moved_s: None,
            total: Affine::IDENTITY,
            pending: VecDeque::new(),
            error: [([[[0.0; 3]; 3]; 2], None); CHECK_S.len()],
            still: [[[0.0; 3]; 3]; 2],
        }
    }
}

impl CameraForecast {
    /// The camera moved by `map` into the frame at `time_s`.
    pub fn observe(&mut self, time_s: f64, map: &Affine) {
        let dt = self.last_s.map_or(0.0, |t| time_s - t);
        self.last_s = Some(time_s);
        if !map.is_identity() {
            self.moved_s = Some(time_s);
        }
        self.total = map.after(&self.total);
        if dt > 0.0 {
            // The first step sets the rate: a camera that pans from the start is not taken for
            // one that speeds up.
            let a = match self.rate_known {
                false => 1.0,
                true => 1.0 - (-dt / RATE_MEMORY_S).exp(),
            };
            self.rate_known = true;
            let step = minus_identity(map);
            for (r, s) in self.rate.iter_mut().zip(step) {
                *r += a * (s / dt - *r);
            }
        }
        while self.pending.front().is_some_and(|c| c.due_s <= time_s) {
            let c = self.pending.pop_front().expect("a front");
            self.check(&c, time_s);
        }
        if self.is_moving() && self.rate_known {
            for (horizon, tau) in CHECK_S.iter().enumerate() {
                self.pending.push_back(Check {
                    due_s: time_s + tau,
                    horizon,
                    then: self.total,
                    forecast: self.motion(*tau),
                });
            }
        }
    }

    /// Whether the camera has moved lately: only then are forecasts carried.
    pub fn is_moving(&self) -> bool {
        match (self.moved_s, self.last_s) {
            (Some(m), Some(now)) => now - m <= STILL_AFTER_S,
            _ => false,
        }
    }

    /// The camera's forecast motion over the next `tau` seconds (this picture → that one).
    pub fn motion(&self, tau: f64) -> Affine {
        let mut m = Affine::IDENTITY.0;
        for (p, r) in m.iter_mut().zip(self.rate) {
            *p += r * tau;
        }
        Affine(m)
    }

    fn check(&mut self, c: &Check, time_s: f64) {
        let Some(back) = c.then.inverse() else {
            return;
        };
        let actual = self.total.after(&back);
        let e: [f64; 6] = std::array::from_fn(|i| actual.0[i] - c.forecast.0[i]);
        let (moments, at) = &mut self.error[c.horizon];
        let a = match *at {
            None => 1.0,
            Some(t) => 1.0 - (-(time_s - t).max(0.0) / ERROR_MEMORY_S).exp(),
        };
        *at = Some(time_s);
        accumulate(moments, &e, a);
        if c.horizon == CHECK_S.len() - 1 {
            accumulate(&mut self.still, &minus_identity(&actual), a);
        }
    }

    /// How much of the forecast motion to keep at point `p`: 1 where it has done at least as
    /// well as forecasting none, the ratio of their squared errors where it has done worse.
    fn lean(&self, p: [f64; 2]) -> f64 {
        let last = CHECK_S.len() - 1;
        let model: f64 = self.variance_at(last, p).iter().sum();
        let still: f64 = quadratic(&self.still, p).iter().sum();
        if model <= still || model <= 0.0 {
            1.0
        } else {
            still / model
        }
    }

    /// The variance, per axis, of the camera's forecast error at point `p`, `tau` ahead.
    fn variance(&self, p: [f64; 2], tau: f64) -> [f64; 2] {
        let (k, factor) = if tau <= CHECK_S[0] {
            (0, (tau / CHECK_S[0]).powi(2))
        } else if tau >= CHECK_S[1] {
            (1, (tau / CHECK_S[1]).powi(2))
        } else {
            let a = (tau - CHECK_S[0]) / (CHECK_S[1] - CHECK_S[0]);
            let [v0, v1] = [0, 1].map(|k| self.variance_at(k, p));
            return [0, 1].map(|i| (1.0 - a) * v0[i] + a * v1[i]);
        };
        self.variance_at(k, p).map(|v| v * factor)
    }

    fn variance_at(&self, horizon: usize, p: [f64; 2]) -> [f64; 2] {
        quadratic(&self.error[horizon].0, p)
    }

    /// An object's forecast `tau` ahead, from where it goes in the scene (the camera still) to
    /// where it will be in the picture.
    pub fn carry(&self, f: &Forecast, tau: f64) -> Forecast {
        let motion = self.motion(tau);
        let var = self.variance(f.center, tau);
        let (lean, moved) = (self.lean(f.center), motion.apply(f.center));
        let scale = 1.0 + lean * (motion.scale() - 1.0);
        Forecast {
            center: [0, 1].map(|i| f.center[i] + lean * (moved[i] - f.center[i])),
            size: f.size.map(|v| v * scale),
            cov: [f.cov[0] + var[0], f.cov[1], f.cov[2] + var[1]],
        }
    }
}

/// Adds one row-wise parameter error `e` to the running second moments, with weight `a`.
fn accumulate(moments: &mut [Moment; 2], e: &[f64; 6], a: f64) {
    for (row, m) in moments.iter_mut().enumerate() {
        let v = &e[row * 3..row * 3 + 3];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += a * (v[i] * v[j] - m[i][j]);
            }
        }
    }
}

/// Per axis, the expected square of a row's parameter error at point `p`.
fn quadratic(moments: &[Moment; 2], p: [f64; 2]) -> [f64; 2] {
    let x = [p[0], p[1], 1.0];
    moments.map(|m| {
        let mut v = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                v += x[i] * m[i][j] * x[j];
            }
        }
        v.max(0.0)
    })
}

fn minus_identity(m: &Affine) -> [f64; 6] {
    let mut d = m.0;
    d[0] -= 1.0;
    d[4] -= 1.0;
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(dx: f64) -> Affine {
        Affine([1.0, 0.0, dx, 0.0, 1.0, 0.0])
    }

    fn still_forecast() -> Forecast {
        Forecast {
            center: [100.0, 50.0],
            size: [10.0, 20.0],
            cov: [4.0, 0.0, 4.0],
        }
    }

    #[test]
    fn a_steady_pan_is_carried_into_the_forecast_with_little_doubt() {
        // The picture content moves 3 px a frame at 30 fps: 90 px/s.
        let mut c = CameraForecast::default();
        for k in 0..120 {
            c.observe(k as f64 / 30.0, &shift(3.0));
        }
        assert!(c.is_moving());
        let f = c.carry(&still_forecast(), 1.0);
        assert!((f.center[0] - 190.0).abs() < 1.0, "{:?}", f.center);
        assert!(f.cov[0] < 5.0, "a steady pan is foreseen: {:?}", f.cov);
    }

    #[test]
    fn a_shaky_camera_widens_the_forecast_and_a_still_one_leaves_it_alone() {
        let mut c = CameraForecast::default();
        for k in 0..120 {
            // Jerks of ±8 px, changing direction every 0.2 s.
            let dx = if (k / 6) % 2 == 0 { 8.0 } else { -8.0 };
            c.observe(k as f64 / 30.0, &shift(dx));
        }
        let f = c.carry(&still_forecast(), 1.0);
        assert!(f.cov[0] > 100.0, "{:?}", f.cov);
        assert_eq!(f.cov[2], 4.0, "it only shook sideways");

        let mut still = CameraForecast::default();
        for k in 0..120 {
            still.observe(k as f64 / 30.0, &Affine::IDENTITY);
        }
        assert!(!still.is_moving());
    }
}
