//! The default look-ahead: where the centre goes comes from a linear model learned on
//! pedestrians' ground truth, its uncertainty from the window regression.
//!
//! Features, per image axis: the centre's velocity in box heights per second measured back over
//! six lags from 1/30 s to 1 s (clamped to the track's age, interpolated between its boxes),
//! and the same velocities gated by s / (s + c) for seven speeds c, s being the 1-s speed. The
//! gates let a linear model treat a standing person's velocity (mostly jitter: lean to the
//! current position) apart from a walker's (keep going). The forecast `tau` seconds ahead moves
//! the centre by `height × tau × (w(tau) · features)`, the weights interpolated between the
//! horizons they were fitted at. They are fitted by `scripts/fit_look_ahead.py` on the first
//! half of the MOT17 sequences with a robust loss (the median is what is judged); `vigil
//! eval-predict` scores the second half (docs/PREDICTION.md).
//!
//! Pedestrians filmed at street level were all it learned from: beyond the 1-s velocity 99 % of
//! them stay under (per axis; a car, a runner, a person close to the camera), a linear model
//! extrapolates blindly, and the forecast hands over to the window regression's, fully at twice
//! that velocity. The covariance, and its per-track calibration, are always the window
//! regression's: the learned mean is closer, so its ellipses are if anything generous.

use std::collections::VecDeque;
use std::sync::Arc;

use super::learned_weights::{GATES, HORIZONS_S, LAGS_S, TRUSTED_VELOCITY, WEIGHTS};
use super::record::{Prior, Record, CHECK_S};
use super::{cxcywh, Forecast, LookAhead, WindowRegression};
use crate::geom::{Affine, BBox};

const LAGS: usize = LAGS_S.len();
/// The ungated velocities, then each gate's.
const GATED: usize = 1 + GATES.len();
const HORIZONS: usize = HORIZONS_S.len();
/// A map whose linear part is within this (relative) of a turn and a zoom keeps the speed, and
/// with it the gates, to about this fraction.
const SIMILAR: f64 = 1e-4;

/// The model's fitted numbers: the weights at each horizon and the velocity bound beyond which
/// the window regression takes over. The compiled ones (`learned_weights.rs`), or ones fitted on
/// other sequences (`scripts/fit_look_ahead.py --json`), to judge the model on sequences its
/// weights never saw (`vigil eval-predict --look-ahead-weights`).
#[derive(Clone, Debug, PartialEq)]
pub struct LookAheadWeights {
    trusted_velocity: [f64; 2],
    weights: [[[f64; GATED * LAGS]; 2]; HORIZONS],
}

static COMPILED: LookAheadWeights = LookAheadWeights {
    trusted_velocity: TRUSTED_VELOCITY,
    weights: WEIGHTS,
};

impl LookAheadWeights {
    /// The fit script's JSON: `{"trusted_velocity": [x, y], "weights": [horizon][axis][w…]}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Fitted {
            trusted_velocity: [f64; 2],
            weights: Vec<Vec<Vec<f64>>>,
        }
        let fitted: Fitted = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let shape = format!("{HORIZONS} horizons × 2 axes × {} weights", GATED * LAGS);
        if fitted.weights.len() != HORIZONS {
            return Err(format!("weights: expected {shape}"));
        }
        let mut weights = [[[0.0; GATED * LAGS]; 2]; HORIZONS];
        for (to, from) in weights.iter_mut().zip(&fitted.weights) {
            if from.len() != 2 {
                return Err(format!("weights: expected {shape}"));
            }
            for (to, from) in to.iter_mut().zip(from) {
                *to = from
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("weights: expected {shape}"))?;
            }
        }
        let finite = weights.iter().flatten().flatten().all(|w| w.is_finite());
        if !finite || !fitted.trusted_velocity.iter().all(|v| *v > 0.0) {
            return Err("weights and trusted_velocity must be finite, the bound positive".into());
        }
        Ok(Self {
            trusted_velocity: fitted.trusted_velocity,
            weights,
        })
    }
}

#[derive(Clone, Debug)]
pub struct LearnedVelocity {
    /// Fitted elsewhere (an evaluation); `None`: the compiled weights.
    fitted: Option<Arc<LookAheadWeights>>,
    /// Gives the covariance (and the size) of every forecast.
    spread: WindowRegression,
    /// Recent centres `(time_s, [cx, cy])`, oldest first, in the current picture: back to the
    /// last one at or before the longest lag.
    history: VecDeque<(f64, [f64; 2])>,
    /// When the track was first seen.
    first_s: f64,
    /// Height of the latest box.
    height: f64,
    /// The velocities at the latest observation, per axis and lag, in box heights per second.
    velocity: [[f64; LAGS]; 2],
    /// The weights at each fitted horizon, per axis and lag, summed over the gates with the
    /// gates' factors: the rates are their dot products with the velocities.
    mixed: [[[f64; LAGS]; 2]; HORIZONS],
    /// The model's rate of motion at each fitted horizon, per axis, in box heights per second:
    /// computed once an observation, since every forecast needs two of them.
    rates: [[f64; 2]; HORIZONS],
    /// How far the learned mean is trusted at the latest observation (1: fully; 0: the window
    /// regression's instead).
    trust: f64,
    /// How its own forecasts have done: how far to lean toward the current position, how wide
    /// to make the ellipses.
    record: Record,
}

impl Default for LearnedVelocity {
    fn default() -> Self {
        Self {
            fitted: None,
            spread: WindowRegression::default(),
            history: VecDeque::new(),
            first_s: 0.0,
            height: 1.0,
            velocity: [[0.0; LAGS]; 2],
            mixed: [[[0.0; LAGS]; 2]; HORIZONS],
            rates: [[0.0; 2]; HORIZONS],
            trust: 1.0,
            record: Record::default(),
        }
    }
}

impl LearnedVelocity {
    /// With weights fitted elsewhere (`None`: the compiled ones).
    pub fn with_weights(fitted: Option<Arc<LookAheadWeights>>) -> Self {
        Self {
            fitted,
            ..Self::default()
        }
    }

    /// Starts from what the scene's other tracks have learned (see `record::Prior`).
    pub fn with_prior(mut self, prior: Option<Prior>) -> Self {
        self.record.set_prior(prior);
        self
    }

    /// This track's record, once it can speak for the scene.
    pub fn prior(&self) -> Option<Prior> {
        self.record.summary()
    }

    fn weights(&self) -> &LookAheadWeights {
        self.fitted.as_deref().unwrap_or(&COMPILED)
    }

    /// Carries the state into the coordinates of a camera that moved by `map` (the previous
    /// frame's → this frame's).
    pub fn follow_camera(&mut self, map: &Affine) {
        if map.is_identity() {
            return;
        }
        self.spread.follow_camera(map);
        self.record.follow_camera(map);
        for (_, centre) in &mut self.history {
            *centre = map.apply(*centre);
        }
        // Interpolation commutes with the map, so each velocity is carried by its linear part,
        // over the height's scale: the same as measuring again from the moved boxes.
        let ([[a, b], [d, e]], scale) = (map.linear(), map.scale());
        self.height *= scale;
        let [vx, vy] = self.velocity;
        for k in 0..LAGS {
            self.velocity[0][k] = (a * vx[k] + b * vy[k]) / scale;
            self.velocity[1][k] = (d * vx[k] + e * vy[k]) / scale;
        }
        // The gates depend on the speed alone, which a camera's turn and zoom leave as it was
        // (in box heights): only a map that stretches the picture one way changes them.
        self.refresh((a - e).abs() + (b + d).abs() > SIMILAR * scale);
    }

    /// What follows from the velocities: the gates' mix of the weights (unless the speed is
    /// as it was at the last mix), the rates at the fitted horizons, and the trust in them.
    fn refresh(&mut self, speed_changed: bool) {
        if speed_changed {
            let fitted = self.fitted.as_deref().unwrap_or(&COMPILED);
            mix_weights(&gates(&self.velocity), &fitted.weights, &mut self.mixed);
        }
        self.rates = self.fitted_rates();
        self.trust = self.trust();
    }

    /// The centre at `time_s`, interpolated between the boxes around it, the later of which is
    /// `history[after]` (the first at or after `time_s`; the newest when none is).
    fn centre_at(&self, time_s: f64, after: usize) -> [f64; 2] {
        let Some(&(t1, c1)) = self.history.get(after) else {
            return self.history.back().map_or([0.0; 2], |&(_, c)| c);
        };
        if after == 0 || t1 == time_s {
            return c1;
        }
        let (t0, c0) = self.history[after - 1];
        let a = (time_s - t0) / (t1 - t0);
        [0, 1].map(|i| (1.0 - a) * c0[i] + a * c1[i])
    }

    /// The velocities over each lag, clamped to the track's age.
    fn measure(&self) -> [[f64; LAGS]; 2] {
        let mut velocity = [[0.0; LAGS]; 2];
        let Some(&(now, here)) = self.history.back() else {
            return velocity;
        };
        let age = now - self.first_s;
        // The lags grow, so the times they reach back to fall: one walk back through the
        // history finds the boxes around each of them.
        let mut after = self.history.len() - 1;
        for (k, &lag) in LAGS_S.iter().enumerate() {
            let lag = lag.min(age);
            if lag > 0.0 {
                let then_s = now - lag;
                while after > 0 && self.history[after - 1].0 >= then_s {
                    after -= 1;
                }
                let then = self.centre_at(then_s, after);
                for axis in 0..2 {
                    velocity[axis][k] = (here[axis] - then[axis]) / (self.height * lag);
                }
            }
        }
        velocity
    }

    /// 1 while the 1-s velocity is within what the weights were fitted on, falling to 0 at twice
    /// that, on either axis.
    fn trust(&self) -> f64 {
        [0, 1]
            .map(|axis| {
                let v = self.velocity[axis][LAGS - 1].abs();
                (2.0 - v / self.weights().trusted_velocity[axis]).clamp(0.0, 1.0)
            })
            .into_iter()
            .fold(1.0, f64::min)
    }

    /// The weights' dot product with the features at every fitted horizon, per axis.
    fn fitted_rates(&self) -> [[f64; 2]; HORIZONS] {
        let mut rates = [[0.0; 2]; HORIZONS];
        for (rate, per_axis) in rates.iter_mut().zip(&self.mixed) {
            for axis in 0..2 {
                let (w, v) = (&per_axis[axis], &self.velocity[axis]);
                rate[axis] = (0..LAGS).map(|k| w[k] * v[k]).sum();
            }
        }
        rates
    }

    /// How far the centre moves in `tau` seconds, in box heights per second of `tau`, per axis:
    /// the fitted horizons' rates, interpolated linearly in between.
    fn rate(&self, tau: f64) -> [f64; 2] {
        let next = HORIZONS_S.partition_point(|&h| h < tau);
        if next == 0 {
            return self.rates[0];
        }
        if next == HORIZONS {
            return self.rates[HORIZONS - 1];
        }
        let (h0, h1) = (HORIZONS_S[next - 1], HORIZONS_S[next]);
        let a = (tau - h0) / (h1 - h0);
        let (r0, r1) = (self.rates[next - 1], self.rates[next]);
        [0, 1].map(|i| (1.0 - a) * r0[i] + a * r1[i])
    }
}

/// The weights at every fitted horizon, per axis and lag, summed over the gates with their
/// factors `gate`, into `mixed`.
fn mix_weights(
    gate: &[f64; GATED],
    fitted: &[[[f64; GATED * LAGS]; 2]; HORIZONS],
    mixed: &mut [[[f64; LAGS]; 2]; HORIZONS],
) {
    for (per_axis, weights) in mixed.iter_mut().zip(fitted) {
        for (mixed, weights) in per_axis.iter_mut().zip(weights) {
            *mixed = [0.0; LAGS];
            for (g, w) in weights.chunks_exact(LAGS).enumerate() {
                for k in 0..LAGS {
                    mixed[k] += gate[g] * w[k];
                }
            }
        }
    }
}

/// Each gate's factor s / (s + c), s the 1-s speed (1 first, for the ungated velocities).
fn gates(velocity: &[[f64; LAGS]; 2]) -> [f64; GATED] {
    let (vx, vy) = (velocity[0][LAGS - 1], velocity[1][LAGS - 1]);
    let speed = (vx * vx + vy * vy).sqrt();
    let mut out = [1.0; GATED];
    for (g, c) in GATES.iter().enumerate() {
        out[g + 1] = speed / (speed + c);
    }
    out
}

impl LearnedVelocity {
    /// The model's forecast: the learned mean (or the window regression's, beyond what it
    /// learned) with the window regression's covariance, before the track's record is applied.
    /// Also returns the window regression's own forecast, the record's second opinion.
    fn model_forecast(&self, time_s: f64) -> Option<(Forecast, Forecast)> {
        let window = self.spread.forecast(time_s)?;
        if self.trust == 0.0 {
            return Some((window, window));
        }
        let &(now, here) = self.history.back()?;
        let tau = (time_s - now).max(0.0);
        let rate = self.rate(tau);
        let learned = [0, 1].map(|i| here[i] + self.height * tau * rate[i]);
        let model = Forecast {
            center: [0, 1].map(|i| self.trust * learned[i] + (1.0 - self.trust) * window.center[i]),
            ..window
        };
        Some((model, window))
    }
}

impl LookAhead for LearnedVelocity {
    fn observe(&mut self, time_s: f64, bbox: &BBox) {
        self.spread.observe(time_s, bbox);
        let [cx, cy, _, h] = cxcywh(bbox);
        if self.history.is_empty() {
            self.first_s = time_s;
        }
        self.history.push_back((time_s, [cx, cy]));
        let oldest_needed = time_s - LAGS_S[LAGS - 1];
        while self.history.len() > 2 && self.history[1].0 <= oldest_needed {
            self.history.pop_front();
        }
        self.height = h.max(1.0);
        self.velocity = self.measure();
        self.refresh(true);
        self.record.observe(time_s, [cx, cy]);
        for (k, tau) in CHECK_S.iter().enumerate() {
            if let Some((f, second)) = self.model_forecast(time_s + tau) {
                self.record.expect((time_s, k), [cx, cy], f, second.center);
            }
        }
    }

    /// The model's forecast, its displacement leaned toward the current position and its
    /// covariance scaled by the track's record.
    fn forecast(&self, time_s: f64) -> Option<Forecast> {
        let (f, second) = self.model_forecast(time_s)?;
        let &(now, here) = self.history.back()?;
        let (lean, scale) = (self.record.lean(), self.record.scale(time_s - now));
        let mix = self.record.mix();
        let center = [0, 1].map(|i| mix * f.center[i] + (1.0 - mix) * second.center[i]);
        Some(Forecast {
            center: [0, 1].map(|i| here[i] + lean * (center[i] - here[i])),
            cov: f.cov.map(|v| v * scale),
            ..f
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fitted_elsewhere_are_read_from_the_fit_scripts_json() {
        let json = serde_json::json!({
            "sequences": ["MOT17-02"],
            "trusted_velocity": TRUSTED_VELOCITY,
            "weights": WEIGHTS.iter().map(|h| h.iter().map(|a| a.to_vec()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        });
        let fitted = LookAheadWeights::from_json(&json.to_string()).unwrap();
        assert_eq!(fitted, COMPILED);
        let (mut a, mut b) = (
            LearnedVelocity::default(),
            LearnedVelocity::with_weights(Some(Arc::new(fitted))),
        );
        walk(&mut a, 30, 40.0);
        walk(&mut b, 30, 40.0);
        assert_eq!(a.forecast(2.0), b.forecast(2.0));
        let short = serde_json::json!({"trusted_velocity": [1.0, 1.0], "weights": [[[0.0]]]});
        assert!(LookAheadWeights::from_json(&short.to_string())
            .unwrap_err()
            .contains("horizons"));
        assert!(LookAheadWeights::from_json("{").is_err());
    }

    fn walk(model: &mut LearnedVelocity, frames: usize, px_per_s: f64) {
        for k in 0..frames {
            let t = k as f64 / 30.0;
            let x = 100.0 + px_per_s * t;
            model.observe(t, &BBox::from_cxcywh(x as f32, 300.0, 40.0, 100.0));
        }
    }

    #[test]
    fn a_walker_keeps_walking_and_a_standing_person_stays() {
        let mut walker = LearnedVelocity::default();
        walk(&mut walker, 60, 40.0); // 0.4 box heights a second, a usual walk
        let now = 59.0 / 30.0;
        let ahead = walker.forecast(now + 1.0).unwrap();
        let moved = ahead.center[0] - (100.0 + 40.0 * now);
        assert!(moved > 30.0 && moved < 44.0, "{ahead:?}");
        assert!((ahead.center[1] - 300.0).abs() < 1.0, "{ahead:?}");
        let mut standing = LearnedVelocity::default();
        walk(&mut standing, 60, 0.0);
        let stay = standing.forecast(now + 2.0).unwrap();
        assert!((stay.center[0] - 100.0).abs() < 1e-6, "{stay:?}");
        assert!(stay.cov[0] > 0.0 && stay.cov[2] > 0.0);
    }

    #[test]
    fn what_moves_faster_than_the_people_it_learned_from_gets_the_window_regression() {
        let (mut learned, mut window) = (LearnedVelocity::default(), WindowRegression::default());
        for k in 0..60 {
            let t = k as f64 / 30.0;
            // A car coming down the picture at 4 box heights a second.
            let b = BBox::from_cxcywh(100.0, (100.0 + 200.0 * t) as f32, 60.0, 50.0);
            learned.observe(t, &b);
            window.observe(t, &b);
        }
        let t = 59.0 / 30.0 + 1.0;
        // The same place; the spread is the track's own record's.
        let centre = |f: Option<Forecast>| f.map(|f| f.center);
        assert_eq!(centre(learned.forecast(t)), centre(window.forecast(t)));
    }

    #[test]
    fn only_what_the_longest_lag_needs_is_kept() {
        let mut m = LearnedVelocity::default();
        walk(&mut m, 300, 50.0);
        let (oldest, _) = m.history[0];
        let (now, _) = *m.history.back().unwrap();
        assert!(
            now - oldest >= LAGS_S[LAGS - 1] && now - oldest < 1.1,
            "{oldest} {now}"
        );
    }

    #[test]
    fn a_camera_pan_moves_the_forecast_with_the_picture() {
        let (mut fixed, mut panned) = (LearnedVelocity::default(), LearnedVelocity::default());
        walk(&mut fixed, 40, 100.0);
        walk(&mut panned, 40, 100.0);
        let shift = Affine([1.0, 0.0, -30.0, 0.0, 1.0, 12.0]);
        panned.follow_camera(&shift);
        let t = 39.0 / 30.0 + 1.0;
        let (a, b) = (fixed.forecast(t).unwrap(), panned.forecast(t).unwrap());
        assert!(
            (b.center[0] - (a.center[0] - 30.0)).abs() < 1e-6,
            "{a:?} {b:?}"
        );
        assert!(
            (b.center[1] - (a.center[1] + 12.0)).abs() < 1e-6,
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn a_turn_and_zoom_of_the_camera_keeps_the_gates_and_forecasts_as_measured_afresh() {
        let mut model = LearnedVelocity::default();
        for k in 0..40 {
            let t = k as f64 / 30.0;
            let b = BBox::from_cxcywh(
                (100.0 + 30.0 * t) as f32,
                (300.0 - 8.0 * t) as f32,
                40.0,
                100.0,
            );
            model.observe(t, &b);
        }
        let (c, s) = (1.02 * 0.01f64.cos(), 1.02 * 0.01f64.sin());
        let mut turned = model.clone();
        turned.follow_camera(&Affine([c, -s, 5.0, s, c, -3.0]));
        let mut afresh = turned.clone();
        afresh.refresh(true);
        let t = 39.0 / 30.0 + 1.0;
        let (a, b) = (turned.forecast(t).unwrap(), afresh.forecast(t).unwrap());
        assert!(
            (0..2).all(|i| (a.center[i] - b.center[i]).abs() < 1e-9),
            "{a:?} {b:?}"
        );
    }
}
