//! The look-ahead candidates. Each keeps only what it needs of a trajectory; all share one way
//! of saying how uncertain a forecast is (`Spread`), so that they differ in where they put the
//! centre, not in how the uncertainty is modelled — except where a model has its own evidence
//! (the regression's residuals and per-track error record, the IMM's mode covariances).

use std::collections::VecDeque;

use super::{cxcywh, Forecast, LookAhead};
use crate::geom::{Affine, BBox};

/// How the unexplained motion grows with the look-ahead `tau` (seconds), per axis, in box
/// heights: std = h · (base + rate · tau). People change pace and direction at a roughly
/// constant rate, so the error of any extrapolation grows about linearly with time; a box twice
/// as tall is twice as close and moves twice as many pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub base: f64,
    pub rate_x: f64,
    pub rate_y: f64,
}

impl Spread {
    fn variance(&self, height: f64, tau: f64) -> [f64; 2] {
        let h = height.max(1.0);
        let tau = tau.max(0.0);
        [self.rate_x, self.rate_y].map(|rate| (h * (self.base + rate * tau)).powi(2))
    }

    fn forecast(&self, center: [f64; 2], size: [f64; 2], tau: f64, scale: f64) -> Forecast {
        let [vx, vy] = self.variance(size[1], tau);
        Forecast {
            center,
            size,
            cov: [vx * scale, 0.0, vy * scale],
        }
    }
}

/// The unexplained motion of both simple baselines: one spread, so that they differ only in
/// where they put the centre.
const BASELINE_SPREAD: Spread = Spread {
    base: 0.0,
    rate_x: 0.12,
    rate_y: 0.04,
};

/// The object stays where it was last seen.
#[derive(Clone, Debug)]
pub struct ConstantPosition {
    pub spread: Spread,
    last: Option<(f64, [f64; 4])>,
}

impl Default for ConstantPosition {
    fn default() -> Self {
        Self {
            spread: BASELINE_SPREAD,
            last: None,
        }
    }
}

impl LookAhead for ConstantPosition {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        self.last = Some((time_s, cxcywh(bbox)));
    }

    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let (t, [cx, cy, w, h]) = self.last?;
        Some(self.spread.forecast([cx, cy], [w, h], time_s - t, 1.0))
    }
}

/// The velocity between the last two observations, held.
#[derive(Clone, Debug)]
pub struct LastTwoVelocity {
    pub spread: Spread,
    previous: Option<(f64, [f64; 4])>,
    last: Option<(f64, [f64; 4])>,
}

impl Default for LastTwoVelocity {
    fn default() -> Self {
        Self {
            spread: BASELINE_SPREAD,
            previous: None,
            last: None,
        }
    }
}

impl LookAhead for LastTwoVelocity {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        self.previous = self.last;
        self.last = Some((time_s, cxcywh(bbox)));
    }

    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let (t, [cx, cy, w, h]) = self.last?;
        let velocity = match self.previous {
            Some((t0, b0)) if t > t0 => [(cx - b0[0]) / (t - t0), (cy - b0[1]) / (t - t0)],
            _ => [0.0, 0.0],
        };
        let tau = time_s - t;
        let center = [cx + velocity[0] * tau, cy + velocity[1] * tau];
        Some(self.spread.forecast(center, [w, h], tau, 1.0))
    }
}

/// Settings of the window regression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionParams {
    /// Observations older than this (seconds before the latest) are forgotten.
    pub window_s: f64,
    /// Weight of an observation falls by e every this many seconds of age: recent motion counts
    /// most, but enough of the past is kept to average out box jitter.
    pub weight_decay_s: f64,
    /// Velocity is expected to persist about this long (an Ornstein–Uhlenbeck velocity): the
    /// displacement after `tau` is `v · T · (1 − e^(−tau/T))`, which leans towards the current
    /// position at long horizons. Infinite = constant velocity.
    pub velocity_memory_s: f64,
    /// Shrink each velocity towards zero by `v² / (v² + shrink · var(v))`: a velocity no
    /// larger than its own uncertainty (jitter of a standing person, a path that bends) is
    /// mostly noise, and following it does more harm than staying put. 0 = never shrink.
    pub shrink: f64,
    /// Unexplained motion (the maneuvers no extrapolation sees coming).
    pub spread: Spread,
    /// Scale the spread by how well this track's own earlier forecasts did (per-track noise).
    pub adapt_to_track: bool,
}

impl Default for RegressionParams {
    fn default() -> Self {
        Self {
            window_s: 1.0,
            weight_decay_s: 0.2,
            velocity_memory_s: f64::INFINITY,
            shrink: 16.0,
            spread: Spread {
                base: 0.0,
                rate_x: 0.14,
                rate_y: 0.055,
            },
            adapt_to_track: true,
        }
    }
}

/// One axis of a weighted least-squares line fit `x(t) = at + velocity · (t − t_last)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct AxisFit {
    at: f64,
    velocity: f64,
    /// Variance of `at` and of `velocity` from the residuals of the fit.
    var_at: f64,
    var_velocity: f64,
}

/// The fit of every axis at the latest observation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Fit {
    time_s: f64,
    axes: [AxisFit; 2],
    size: [f64; 2],
}

impl Fit {
    /// The fit in the coordinates of a camera that moved by `map`: positions through the whole
    /// map, velocities through its linear part, variances as the diagonal of L·P·Lᵀ (the axes are
    /// fitted apart, so there is no cross term to carry).
    fn follow_camera(&mut self, map: &Affine) {
        let [[a, b], [d, e]] = map.linear();
        let [x, y] = self.axes;
        let at = map.apply([x.at, y.at]);
        let (vx, vy) = (
            a * x.velocity + b * y.velocity,
            d * x.velocity + e * y.velocity,
        );
        let var = |p: f64, q: f64, vx: f64, vy: f64| p * p * vx + q * q * vy;
        self.axes = [
            AxisFit {
                at: at[0],
                velocity: vx,
                var_at: var(a, b, x.var_at, y.var_at),
                var_velocity: var(a, b, x.var_velocity, y.var_velocity),
            },
            AxisFit {
                at: at[1],
                velocity: vy,
                var_at: var(d, e, x.var_at, y.var_at),
                var_velocity: var(d, e, x.var_velocity, y.var_velocity),
            },
        ];
        self.size = self.size.map(|v| v * map.scale());
    }
}

/// Velocity from a weighted linear regression over the last `window_s` of observations; its
/// uncertainty from the fit's residuals (a track whose recent path bends, or whose boxes jitter,
/// gets a less certain and so more cautious velocity), plus the unexplained motion `Spread`.
#[derive(Clone, Debug)]
pub struct WindowRegression {
    params: RegressionParams,
    /// Recent box centres `(time_s, [cx, cy], moved)`, oldest first, each in the picture of its
    /// own time; `moved` is `self.moved` then.
    history: VecDeque<(f64, [f64; 2], Affine)>,
    /// The regression's weighted sums over `history`, kept up to date as boxes come and go:
    /// this runs for every track on every frame, and refitting the window each time was a
    /// third of the tracker's time.
    sums: Sums,
    fit: Option<Fit>,
    /// Earlier fits, kept `ERROR_LAG_S` to check them against what happened next, each in the
    /// picture of its own time, with `self.moved` then.
    earlier: VecDeque<(Fit, Affine)>,
    /// How the camera has moved since this state began (or since `moved` was last rebased):
    /// what is kept in an older picture's coordinates is carried into the current one only
    /// when it is used, not on every frame.
    moved: Affine,
    /// Running mean of this track's squared normalized forecast errors (1 = as expected).
    error_scale: f64,
}

/// How far back an earlier fit is checked for the per-track error record.
const ERROR_LAG_S: f64 = 0.5;
/// Weight of one new error in the running mean (about the last 20 checks count).
const ERROR_RATE: f64 = 0.05;

impl Default for WindowRegression {
    fn default() -> Self {
        Self::new(RegressionParams::default())
    }
}

impl WindowRegression {
    pub fn new(params: RegressionParams) -> Self {
        Self {
            params,
            history: VecDeque::new(),
            sums: Sums::default(),
            fit: None,
            earlier: VecDeque::new(),
            moved: Affine::IDENTITY,
            error_scale: 1.0,
        }
    }

    /// Carries this state into the coordinates of a camera that moved by `map` (the previous
    /// frame's → this frame's), as the tracker does with its own filter. Without it a shaking
    /// camera's motion would read as the object's, and its forecasts would swing with the
    /// picture. The sums and the fit are carried at once; older boxes and fits when used.
    pub fn follow_camera(&mut self, map: &Affine) {
        if map.is_identity() {
            return;
        }
        self.sums.warp(map);
        if let Some(fit) = &mut self.fit {
            fit.follow_camera(map);
        }
        self.moved = map.after(&self.moved);
        // Far from where it began (a long pan or zoom): before the numbers grow unwieldy.
        if !self.moved.is_usable() {
            self.rebase();
        }
    }

    /// How the camera moved from the picture in which `self.moved` was `then` to the current one.
    fn since(&self, then: &Affine) -> Affine {
        if *then == self.moved {
            return Affine::IDENTITY;
        }
        let back = then.inverse().unwrap_or(Affine::IDENTITY);
        self.moved.after(&back)
    }

    /// Starts `moved` afresh (it grows with every frame of a long, moving track), keeping what
    /// each older box and fit is relative to it.
    fn rebase(&mut self) {
        let back = self.moved.inverse().unwrap_or(Affine::IDENTITY);
        for (_, _, then) in &mut self.history {
            *then = then.after(&back);
        }
        for (_, then) in &mut self.earlier {
            *then = then.after(&back);
        }
        self.moved = Affine::IDENTITY;
    }

    fn forecast_from(&self, fit: &Fit, time_s: f64, scale: f64) -> Forecast {
        let tau = (time_s - fit.time_s).max(0.0);
        let memory = self.params.velocity_memory_s;
        let travel = if memory.is_finite() {
            memory * (1.0 - (-tau / memory).exp())
        } else {
            tau
        };
        let spread = self.params.spread.variance(fit.size[1], tau);
        let axis = |i: usize| {
            let a = &fit.axes[i];
            let center = a.at + a.velocity * travel;
            let var = a.var_at + a.var_velocity * travel * travel + spread[i] * scale;
            (center, var)
        };
        let ((cx, vx), (cy, vy)) = (axis(0), axis(1));
        Forecast {
            center: [cx, cy],
            size: fit.size,
            cov: [vx, 0.0, vy],
        }
    }

    /// Updates the per-track error record with how the fit of about `ERROR_LAG_S` ago did.
    fn check_earlier_fit(&mut self, time_s: f64, at: [f64; 2]) {
        let mut due = None;
        while let Some((f, _)) = self.earlier.front() {
            if time_s - f.time_s < ERROR_LAG_S {
                break;
            }
            due = self.earlier.pop_front();
        }
        if let Some((mut fit, then)) = due {
            let moved = self.since(&then);
            if !moved.is_identity() {
                fit.follow_camera(&moved);
            }
            let f = self.forecast_from(&fit, time_s, 1.0);
            let d2 = f.mahalanobis2(at) / 2.0; // 1 on average when calibrated
            if d2.is_finite() {
                self.error_scale += ERROR_RATE * (d2.min(25.0) - self.error_scale);
            }
        }
    }
}

impl LookAhead for WindowRegression {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        let b = cxcywh(bbox);
        if self.params.adapt_to_track {
            self.check_earlier_fit(time_s, [b[0], b[1]]);
        }
        let decay_s = self.params.weight_decay_s;
        if let Some(&(last_s, _, _)) = self.history.back() {
            self.sums.age(time_s - last_s, decay_s);
        }
        self.history.push_back((time_s, [b[0], b[1]], self.moved));
        self.sums.add(0.0, 1.0, [b[0], b[1]]);
        while let Some(&(t, old, then)) = self.history.front() {
            if time_s - t <= self.params.window_s || self.history.len() <= 2 {
                break;
            }
            let age = t - time_s;
            let old = self.since(&then).apply(old);
            self.sums.add(age, -(age / decay_s).exp(), old);
            self.history.pop_front();
        }
        let fit = Fit {
            time_s,
            axes: self
                .sums
                .fit([b[0], b[1]])
                .map(|axis| shrunk(axis, self.params.shrink)),
            size: [b[2], b[3]],
        };
        if self.params.adapt_to_track {
            self.earlier.push_back((fit, self.moved));
        }
        self.fit = Some(fit);
    }

    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let scale = if self.params.adapt_to_track {
            self.error_scale.clamp(0.25, 9.0)
        } else {
            1.0
        };
        Some(self.forecast_from(self.fit.as_ref()?, time_s, scale))
    }
}

/// The fit with its velocity shrunk towards zero by its reliability (see `RegressionParams`).
fn shrunk(fit: AxisFit, shrink: f64) -> AxisFit {
    let v2 = fit.velocity * fit.velocity;
    let noise = shrink * fit.var_velocity;
    if noise <= 0.0 {
        return fit;
    }
    let keep = v2 / (v2 + noise);
    AxisFit {
        velocity: fit.velocity * keep,
        ..fit
    }
}

/// Weighted sums of a least-squares line fit of centre x and y against time, times relative to
/// the latest observation, weights `exp(age / weight_decay_s)` (1 for the latest).
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    n: f64,
    sw: f64,
    st: f64,
    stt: f64,
    sx: [f64; 2],
    stx: [f64; 2],
    sxx: [f64; 2],
    /// Σw·x·y: what carries `sxx` through a map that mixes the axes (a turn).
    sxy: f64,
}

impl Sums {
    /// The same samples with every position carried by `map` (weights and times unchanged):
    /// exact, since each sum is a polynomial of degree ≤ 2 in the positions.
    fn warp(&mut self, map: &Affine) {
        let [a, b, c, d, e, f] = map.0;
        let (sw, st) = (self.sw, self.st);
        let ([sx, sy], [stx, sty], [sxx, syy], sxy) = (self.sx, self.stx, self.sxx, self.sxy);
        let square = |p: f64, q: f64, r: f64| {
            p * p * sxx + q * q * syy + r * r * sw + 2.0 * (p * q * sxy + p * r * sx + q * r * sy)
        };
        self.sx = [a * sx + b * sy + c * sw, d * sx + e * sy + f * sw];
        self.stx = [a * stx + b * sty + c * st, d * stx + e * sty + f * st];
        self.sxx = [square(a, b, c), square(d, e, f)];
        self.sxy = a * d * sxx
            + (a * e + b * d) * sxy
            + b * e * syy
            + (a * f + c * d) * sx
            + (b * f + c * e) * sy
            + c * f * sw;
    }

    /// Every sample `dt` seconds older: times shift by `dt`, weights fall by `exp(-dt/decay)`.
    fn age(&mut self, dt: f64, decay_s: f64) {
        let f = (-dt / decay_s).exp();
        let (sw, st, stt) = (self.sw, self.st, self.stt);
        self.stt = f * (stt - 2.0 * dt * st + dt * dt * sw);
        self.st = f * (st - dt * sw);
        self.sw = f * sw;
        for i in 0..2 {
            self.stx[i] = f * (self.stx[i] - dt * self.sx[i]);
            self.sx[i] *= f;
            self.sxx[i] *= f;
        }
        self.sxy *= f;
    }

    /// Adds a sample at relative time `t` with weight `w`; a negative weight removes it.
    fn add(&mut self, t: f64, w: f64, x: [f64; 2]) {
        self.n += w.signum();
        self.sw += w;
        self.st += w * t;
        self.stt += w * t * t;
        for (i, x) in x.into_iter().enumerate() {
            self.sx[i] += w * x;
            self.stx[i] += w * t * x;
            self.sxx[i] += w * x * x;
        }
        self.sxy += w * x[0] * x[1];
    }

    /// The lines through both axes; `latest` is the position when there is no line to fit.
    /// Both axes share the times and weights, so the divisions are done once for the two (this
    /// runs for every track on every frame).
    fn fit(&self, latest: [f64; 2]) -> [AxisFit; 2] {
        let (n, sw, st, stt) = (self.n, self.sw, self.st, self.stt);
        let det = sw * stt - st * st;
        if n < 2.0 || det <= 1e-12 {
            return latest.map(|at| AxisFit {
                at,
                ..Default::default()
            });
        }
        let (per_det, per_weight) = (1.0 / det, 1.0 / sw);
        // Residual variance per unit of Σw(x − at − v·t)², the weights normalised to the count.
        let per_sse = if n > 2.0 {
            per_weight * n / (n - 2.0)
        } else {
            0.0
        };
        [0, 1].map(|i| {
            let (sx, stx, sxx) = (self.sx[i], self.stx[i], self.sxx[i]);
            let velocity = (sw * stx - st * sx) * per_det;
            let at = (sx - velocity * st) * per_weight;
            // Σw(x − at − v·t)², expanded into the sums; never below 0 by rounding.
            let sse = (sxx - 2.0 * at * sx - 2.0 * velocity * stx
                + at * at * sw
                + 2.0 * at * velocity * st
                + velocity * velocity * stt)
                .max(0.0);
            let residual = sse * per_sse;
            AxisFit {
                at,
                velocity,
                var_at: residual * stt * per_det,
                var_velocity: residual * sw * per_det,
            }
        })
    }
}

/// Settings of the IMM mix, in box heights and seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImmParams {
    /// Std of box-centre measurement noise.
    pub measurement: f64,
    /// Standing: std of the drift of position per √second.
    pub drift: f64,
    /// Walking: std of acceleration (white-noise acceleration), per second².
    pub acceleration: f64,
    /// Mean time before switching between standing and walking.
    pub mode_duration_s: f64,
}

impl Default for ImmParams {
    fn default() -> Self {
        Self {
            measurement: 0.02,
            drift: 0.05,
            acceleration: 0.3,
            mode_duration_s: 2.0,
        }
    }
}

/// One coordinate and its velocity with covariance `[[pp, pv], [pv, vv]]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Kinematic {
    pos: f64,
    vel: f64,
    pp: f64,
    pv: f64,
    vv: f64,
}

impl Kinematic {
    /// Advances by `dt` with white-noise acceleration of spectral density `q_acc` and a
    /// position random walk of density `q_pos`.
    fn predict(&self, dt: f64, q_acc: f64, q_pos: f64) -> Self {
        Self {
            pos: self.pos + self.vel * dt,
            pp: self.pp
                + 2.0 * dt * self.pv
                + dt * dt * self.vv
                + q_acc * dt.powi(3) / 3.0
                + q_pos * dt,
            pv: self.pv + dt * self.vv + q_acc * dt * dt / 2.0,
            vv: self.vv + q_acc * dt,
            vel: self.vel,
        }
    }

    /// Corrects with a measured position of variance `r`; returns the innovation's likelihood.
    fn update(&mut self, z: f64, r: f64) -> f64 {
        let s = (self.pp + r).max(1e-12);
        let innovation = z - self.pos;
        let (k_pos, k_vel) = (self.pp / s, self.pv / s);
        self.pos += k_pos * innovation;
        self.vel += k_vel * innovation;
        self.vv -= k_vel * self.pv;
        self.pp *= 1.0 - k_pos;
        self.pv *= 1.0 - k_pos;
        (-0.5 * innovation * innovation / s).exp() / (2.0 * std::f64::consts::PI * s).sqrt()
    }

    /// Moment-matched mixture of weighted states.
    fn mix(parts: &[(f64, Kinematic)]) -> Self {
        let total: f64 = parts.iter().map(|p| p.0).sum::<f64>().max(1e-300);
        let pos = parts.iter().map(|(w, k)| w * k.pos).sum::<f64>() / total;
        let vel = parts.iter().map(|(w, k)| w * k.vel).sum::<f64>() / total;
        let moment = |f: &dyn Fn(&Kinematic) -> f64| {
            parts.iter().map(|(w, k)| w * f(k)).sum::<f64>() / total
        };
        Self {
            pos,
            vel,
            pp: moment(&|k| k.pp + (k.pos - pos).powi(2)),
            pv: moment(&|k| k.pv + (k.pos - pos) * (k.vel - vel)),
            vv: moment(&|k| k.vv + (k.vel - vel).powi(2)),
        }
    }
}

/// Interacting multiple models: a standing object (position only) and a walking one (constant
/// velocity), each a Kalman filter per axis; how much each is believed follows how well it
/// explained the recent boxes, and forecasts are the mixture of both.
#[derive(Clone, Debug)]
pub struct Imm {
    params: ImmParams,
    /// Per mode (standing, walking), per axis (x, y).
    modes: [[Kinematic; 2]; 2],
    probability: [f64; 2],
    last: Option<(f64, [f64; 4])>,
}

impl Default for Imm {
    fn default() -> Self {
        Self::new(ImmParams::default())
    }
}

const STANDING: usize = 0;

impl Imm {
    pub fn new(params: ImmParams) -> Self {
        Self {
            params,
            modes: [[Kinematic::default(); 2]; 2],
            probability: [0.5, 0.5],
            last: None,
        }
    }

    /// Process noises `(q_acc, q_pos)` of a mode for a box `h` tall.
    fn noise(&self, mode: usize, h: f64) -> (f64, f64) {
        if mode == STANDING {
            (0.0, (self.params.drift * h).powi(2))
        } else {
            ((self.params.acceleration * h).powi(2), 0.0)
        }
    }

    fn standing(k: Kinematic) -> Kinematic {
        Kinematic {
            vel: 0.0,
            pv: 0.0,
            vv: 0.0,
            ..k
        }
    }

    fn start(&mut self, time_s: f64, b: [f64; 4]) {
        let r = (self.params.measurement * b[3]).powi(2);
        // A walking pace is unknown at first: about one box height per second.
        let v = b[3].powi(2);
        for (mode, axes) in self.modes.iter_mut().enumerate() {
            for (i, axis) in axes.iter_mut().enumerate() {
                *axis = Kinematic {
                    pos: b[i],
                    pp: r,
                    vv: if mode == STANDING { 0.0 } else { v },
                    ..Default::default()
                };
            }
        }
        self.last = Some((time_s, b));
    }
}

impl LookAhead for Imm {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        let b = cxcywh(bbox);
        let Some((t0, _)) = self.last else {
            return self.start(time_s, b);
        };
        let dt = (time_s - t0).max(0.0);
        let switch = 0.5 * (1.0 - (-dt / self.params.mode_duration_s).exp());
        let prior = [
            self.probability[0] * (1.0 - switch) + self.probability[1] * switch,
            self.probability[1] * (1.0 - switch) + self.probability[0] * switch,
        ];
        let r = (self.params.measurement * b[3]).powi(2);
        let mut likelihood = [1.0; 2];
        let mut modes = self.modes;
        for (j, axes) in modes.iter_mut().enumerate() {
            let stay = 1.0 - switch;
            let (q_acc, q_pos) = self.noise(j, b[3]);
            for (i, axis) in axes.iter_mut().enumerate() {
                let from = [
                    (self.probability[j] * stay, self.modes[j][i]),
                    (self.probability[1 - j] * switch, self.modes[1 - j][i]),
                ];
                let mut mixed = Kinematic::mix(&from);
                if j == STANDING {
                    mixed = Self::standing(mixed);
                }
                *axis = mixed.predict(dt, q_acc, q_pos);
                likelihood[j] *= axis.update(b[i], r);
            }
        }
        let weight = [prior[0] * likelihood[0], prior[1] * likelihood[1]];
        let total = weight[0] + weight[1];
        if total.is_finite() && total > 0.0 {
            self.probability = [weight[0] / total, weight[1] / total];
        } else {
            self.probability = prior;
        }
        self.modes = modes;
        self.last = Some((time_s, b));
    }

    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let (t0, b) = self.last?;
        let tau = (time_s - t0).max(0.0);
        let axis = |i: usize| {
            let parts: Vec<(f64, Kinematic)> = (0..2)
                .map(|j| {
                    let (q_acc, q_pos) = self.noise(j, b[3]);
                    (
                        self.probability[j],
                        self.modes[j][i].predict(tau, q_acc, q_pos),
                    )
                })
                .collect();
            Kinematic::mix(&parts)
        };
        let (x, y) = (axis(0), axis(1));
        Some(Forecast {
            center: [x.pos, y.pos],
            size: [b[2], b[3]],
            cov: [x.pp, 0.0, y.pp],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(model: &mut impl LookAhead, speed: f64, fps: f64, seconds: f64) {
        let n = (seconds * fps) as usize;
        for i in 0..=n {
            let t = i as f64 / fps;
            model.observe(
                t,
                &BBox::from_cxcywh((100.0 + speed * t) as f32, 50.0, 40.0, 100.0),
            );
        }
    }

    #[test]
    fn sums_carried_by_a_map_equal_sums_of_the_carried_samples() {
        let samples = [
            (-0.3, 0.3, [10.0, 4.0]),
            (-0.1, 0.6, [12.0, 5.5]),
            (0.0, 1.0, [15.0, 5.0]),
        ];
        let map = Affine([0.98, -0.08, 7.0, 0.08, 0.98, -3.0]);
        let (mut warped, mut rebuilt) = (Sums::default(), Sums::default());
        for &(t, w, p) in &samples {
            warped.add(t, w, p);
            rebuilt.add(t, w, map.apply(p));
        }
        warped.warp(&map);
        let all = |s: &Sums| {
            [
                s.sx[0], s.sx[1], s.stx[0], s.stx[1], s.sxx[0], s.sxx[1], s.sxy, s.sw, s.st, s.stt,
            ]
        };
        for (a, b) in all(&warped).iter().zip(all(&rebuilt)) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn a_long_pan_is_followed_past_a_rebase() {
        // The camera pans 300 px a frame for 10 s (30,000 px across the scene: `moved` is
        // rebased several times); a person standing still stays where the forecast puts them.
        let mut m = WindowRegression::default();
        let pan = Affine([1.0, 0.0, -300.0, 0.0, 1.0, 0.0]);
        for i in 0..100 {
            if i > 0 {
                m.follow_camera(&pan);
            }
            let x = 30_320.0 - 300.0 * i as f32; // still in the scene, swept across the picture
            m.observe(i as f64 / 10.0, &BBox::from_cxcywh(x, 240.0, 40.0, 100.0));
        }
        let ahead = m.forecast(10.9).unwrap();
        assert!((ahead.center[0] - 620.0).abs() < 1.0, "{ahead:?}");
        assert!(ahead.cov[0] < 200.0, "{ahead:?}");
    }

    #[test]
    fn a_shaking_camera_is_not_read_as_the_objects_motion() {
        // A person standing at x = 300 in the scene; the picture shakes by ±20 px frame to
        // frame. Told the camera's motion, the forecast stays on the person, as sure as for a
        // still camera; not told, it swings with the last shake and grows unsure.
        let (mut told, mut blind, mut still) = (
            WindowRegression::default(),
            WindowRegression::default(),
            WindowRegression::default(),
        );
        let mut x = 300.0;
        for i in 0..30 {
            let t = i as f64 / 10.0;
            let dx = if i == 0 {
                0.0
            } else if i % 2 == 1 {
                20.0
            } else {
                -20.0
            };
            x += dx;
            told.follow_camera(&Affine([1.0, 0.0, dx, 0.0, 1.0, 0.0]));
            let seen = BBox::from_cxcywh(x as f32, 200.0, 40.0, 100.0);
            told.observe(t, &seen);
            blind.observe(t, &seen);
            still.observe(t, &BBox::from_cxcywh(300.0, 200.0, 40.0, 100.0));
        }
        // A second ahead, in the latest picture's coordinates: where the person is in it.
        let now = told.forecast(3.9).unwrap();
        assert!((now.center[0] - x).abs() < 0.5, "{now:?} vs {x}");
        let calm = still.forecast(3.9).unwrap();
        assert!(now.cov[0] < 1.5 * calm.cov[0], "{now:?} vs {calm:?}");
        let swung = blind.forecast(3.9).unwrap();
        assert!(swung.cov[0] > 4.0 * calm.cov[0], "{swung:?} vs {calm:?}");
    }

    #[test]
    fn constant_position_stays_and_grows_uncertain() {
        let mut m = ConstantPosition::default();
        assert!(m.forecast(1.0).is_none());
        walk(&mut m, 30.0, 10.0, 1.0);
        let near = m.forecast(1.5).unwrap();
        let far = m.forecast(3.0).unwrap();
        assert_eq!(near.center, [130.0, 50.0]);
        assert_eq!(far.center, near.center);
        assert!(far.cov[0] > near.cov[0] && far.cov[2] > near.cov[2]);
    }

    #[test]
    fn last_two_velocity_extrapolates_the_last_step() {
        let mut m = LastTwoVelocity::default();
        walk(&mut m, 30.0, 10.0, 1.0);
        let f = m.forecast(2.0).unwrap();
        assert!((f.center[0] - 160.0).abs() < 1e-3, "{f:?}");
    }

    #[test]
    fn regression_learns_a_steady_walk_exactly() {
        let mut m = WindowRegression::new(RegressionParams {
            adapt_to_track: false,
            ..Default::default()
        });
        walk(&mut m, 30.0, 30.0, 2.0);
        let f = m.forecast(3.0).unwrap();
        assert!((f.center[0] - 190.0).abs() < 1e-6, "{f:?}");
        assert!((f.center[1] - 50.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.size, [40.0, 100.0]);
        // No residuals: only the unexplained-motion spread remains, 0.14·h·tau in x.
        assert!((f.cov[0] - 14.0f64.powi(2)).abs() < 1e-3, "{f:?}");
    }

    #[test]
    fn regression_averages_out_jitter() {
        // Boxes jitter ±2 px around a 30 px/s walk; the last two disagree about the velocity
        // by 120 px/s, the window does not.
        let mut regression = WindowRegression::default();
        let mut last_two = LastTwoVelocity::default();
        for i in 0..=30 {
            let t = i as f64 / 30.0;
            let jitter = if i % 2 == 0 { 2.0 } else { -2.0 };
            let b = BBox::from_cxcywh((100.0 + 30.0 * t + jitter) as f32, 50.0, 40.0, 100.0);
            regression.observe(t, &b);
            last_two.observe(t, &b);
        }
        let truth = 100.0 + 30.0 * 2.0;
        let r = regression.forecast(2.0).unwrap();
        let l = last_two.forecast(2.0).unwrap();
        assert!((r.center[0] - truth).abs() < 10.0, "{r:?}");
        assert!((l.center[0] - truth).abs() > 50.0, "{l:?}");
        // The jitter shows in the residuals: a wider ellipse than for a clean walk.
        let mut clean = WindowRegression::default();
        walk(&mut clean, 30.0, 30.0, 1.0);
        assert!(r.cov[0] > clean.forecast(2.0).unwrap().cov[0]);
    }

    #[test]
    fn a_finite_velocity_memory_leans_towards_the_current_position() {
        let mut m = WindowRegression::new(RegressionParams {
            velocity_memory_s: 1.0,
            ..Default::default()
        });
        walk(&mut m, 30.0, 30.0, 1.0);
        let f = m.forecast(3.0).unwrap();
        // 30 px/s · 1 s · (1 − e^−2) = 25.9 px instead of 60.
        assert!((f.center[0] - (130.0 + 30.0 * (1.0 - (-2.0f64).exp()))).abs() < 1e-6);
    }

    #[test]
    fn per_track_errors_widen_the_ellipse_of_an_erratic_track() {
        let params = RegressionParams {
            adapt_to_track: true,
            ..Default::default()
        };
        let (mut steady, mut erratic) =
            (WindowRegression::new(params), WindowRegression::new(params));
        walk(&mut steady, 30.0, 30.0, 4.0);
        for i in 0..=120 {
            let t = i as f64 / 30.0;
            // Turns back every second: 60 px/s one way, then the other.
            let x = if (t as i64) % 2 == 0 {
                60.0 * t.fract()
            } else {
                60.0 * (1.0 - t.fract())
            };
            erratic.observe(t, &BBox::from_cxcywh(x as f32, 50.0, 40.0, 100.0));
        }
        let s = steady.forecast(5.0).unwrap().cov[0];
        let e = erratic.forecast(5.0).unwrap().cov[0];
        assert!(e > 2.0 * s, "erratic {e} steady {s}");
    }

    #[test]
    fn imm_believes_walking_for_a_walker_and_keeps_a_stander_still() {
        let (mut walker, mut stander) = (Imm::default(), Imm::default());
        walk(&mut walker, 60.0, 30.0, 2.0);
        walk(&mut stander, 0.0, 30.0, 2.0);
        assert!(
            walker.probability[1] > walker.probability[STANDING],
            "{:?}",
            walker.probability
        );
        // Standing still is explained as well by a walker at zero pace: the forecast is what
        // matters.
        assert!((stander.forecast(3.0).unwrap().center[0] - 100.0).abs() < 1e-6);
        let f = walker.forecast(3.0).unwrap();
        assert!((f.center[0] - 280.0).abs() < 5.0, "{f:?}");
    }

    #[test]
    fn a_single_observation_forecasts_standing_still() {
        let mut m = WindowRegression::default();
        m.observe(0.0, &BBox::from_cxcywh(10.0, 20.0, 4.0, 10.0));
        let f = m.forecast(1.0).unwrap();
        assert_eq!(f.center, [10.0, 20.0]);
        assert!(f.cov[0] > 0.0);
    }
}
