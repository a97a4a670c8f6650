//! Scoring look-ahead against where objects really went. Pure.
//!
//! A trajectory is a list of frames with a box each, and for each frame the id of the true object
//! whose future the forecast made there is judged against (for a ground-truth trajectory its own
//! id; for a tracker's track the gt object matched to it in that frame). At every frame the model
//! observes the box, then forecasts every frame step up to the longest horizon:
//! - FDE at horizon H: distance between the forecast centre for H and the true centre then;
//! - ADE at H: the mean of that distance over every frame step up to H where the object is in gt;
//! - both also divided by the true box height at the forecast's origin (scale-free);
//! - calibration: the share of true centres inside the forecast's 50 / 90 / 95 % ellipses.
//!
//! A forecast whose horizon frame has no gt box of the object is skipped.

use std::collections::HashMap;

use serde::Serialize;

use super::{Forecast, LookAhead};
use crate::geom::BBox;

/// Ellipse probabilities and the chi-square (2 degrees of freedom) quantile of the squared
/// Mahalanobis distance that bounds each.
pub const ELLIPSES: [(f64, f64); 3] = [(0.5, 1.386), (0.9, 4.605), (0.95, 5.991)];

/// Where each true object is, by (id, frame): centre and size `[cx, cy, w, h]`.
pub type Truth = HashMap<(i64, u64), [f64; 4]>;

/// One frame of a trajectory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub frame: u64,
    pub bbox: BBox,
    /// The true object this frame's forecasts are judged against; `None` = not judged.
    pub target: Option<i64>,
}

/// The errors of one model at one horizon, pooled over forecasts.
#[derive(Clone, Debug, Default)]
pub struct HorizonErrors {
    fde: Vec<f64>,
    fde_per_height: Vec<f64>,
    ade: Vec<f64>,
    ade_per_height: Vec<f64>,
    inside: [u64; 3],
}

impl HorizonErrors {
    pub fn merge(&mut self, other: &HorizonErrors) {
        self.fde.extend(&other.fde);
        self.fde_per_height.extend(&other.fde_per_height);
        self.ade.extend(&other.ade);
        self.ade_per_height.extend(&other.ade_per_height);
        for (a, b) in self.inside.iter_mut().zip(other.inside) {
            *a += b;
        }
    }

    pub fn summary(&self, horizon_s: f64) -> HorizonSummary {
        let n = self.fde.len();
        let share = |k: usize| {
            if n == 0 {
                f64::NAN
            } else {
                self.inside[k] as f64 / n as f64
            }
        };
        HorizonSummary {
            horizon_s,
            forecasts: n,
            fde_median_px: median(&self.fde),
            fde_mean_px: mean(&self.fde),
            fde_median_per_height: median(&self.fde_per_height),
            fde_mean_per_height: mean(&self.fde_per_height),
            ade_median_px: median(&self.ade),
            ade_mean_px: mean(&self.ade),
            ade_median_per_height: median(&self.ade_per_height),
            ade_mean_per_height: mean(&self.ade_per_height),
            inside_50: share(0),
            inside_90: share(1),
            inside_95: share(2),
        }
    }
}

/// The figures of one model at one horizon.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HorizonSummary {
    pub horizon_s: f64,
    pub forecasts: usize,
    pub fde_median_px: f64,
    pub fde_mean_px: f64,
    pub fde_median_per_height: f64,
    pub fde_mean_per_height: f64,
    pub ade_median_px: f64,
    pub ade_mean_px: f64,
    pub ade_median_per_height: f64,
    pub ade_mean_per_height: f64,
    /// Shares of true centres inside the 50 / 90 / 95 % ellipses.
    pub inside_50: f64,
    pub inside_90: f64,
    pub inside_95: f64,
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Horizons in seconds as whole frame steps at `fps` (at least one).
pub fn horizon_steps(horizons_s: &[f64], fps: f64) -> Vec<usize> {
    horizons_s
        .iter()
        .map(|h| ((h * fps).round() as usize).max(1))
        .collect()
}

/// Scores the forecasts made at one origin. `forecasts[k - 1]` is for `k` frames ahead of
/// `origin`; `errors[i]` collects horizon `steps[i]`.
pub fn score_origin(
    forecasts: &[Option<Forecast>],
    origin: u64,
    target: i64,
    truth: &Truth,
    steps: &[usize],
    errors: &mut [HorizonErrors],
) {
    let Some(now) = truth.get(&(target, origin)) else {
        return;
    };
    let height = now[3].max(1.0);
    let miss = |k: usize| -> Option<(f64, [f64; 2], &Forecast)> {
        let f = forecasts.get(k - 1)?.as_ref()?;
        let t = truth.get(&(target, origin + k as u64))?;
        let at = [t[0], t[1]];
        Some(((f.center[0] - at[0]).hypot(f.center[1] - at[1]), at, f))
    };
    for (&k, e) in steps.iter().zip(errors.iter_mut()) {
        let Some((fde, at, forecast)) = miss(k) else {
            continue;
        };
        let along: Vec<f64> = (1..=k).filter_map(|j| miss(j).map(|m| m.0)).collect();
        let ade = mean(&along);
        e.fde.push(fde);
        e.fde_per_height.push(fde / height);
        e.ade.push(ade);
        e.ade_per_height.push(ade / height);
        let d2 = forecast.mahalanobis2(at);
        for (count, (_, quantile)) in e.inside.iter_mut().zip(ELLIPSES) {
            if d2 <= quantile {
                *count += 1;
            }
        }
    }
}

/// Runs a fresh `model` along each trajectory (frame times from `fps`), forecasting every frame
/// step up to the longest horizon, and scores each forecast.
pub fn score_model<M: LookAhead>(
    trajectories: &[Vec<Point>],
    mut model: impl FnMut() -> M,
    fps: f64,
    steps: &[usize],
    truth: &Truth,
) -> Vec<HorizonErrors> {
    let mut errors = vec![HorizonErrors::default(); steps.len()];
    let longest = steps.iter().copied().max().unwrap_or(0);
    let time = |frame: u64| (frame - 1) as f64 / fps;
    for trajectory in trajectories {
        let mut state = model();
        for p in trajectory {
            state.observe(time(p.frame), &p.bbox);
            let Some(target) = p.target else { continue };
            let forecasts: Vec<Option<Forecast>> = (1..=longest as u64)
                .map(|k| state.forecast(time(p.frame + k)))
                .collect();
            score_origin(&forecasts, p.frame, target, truth, steps, &mut errors);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::{ConstantPosition, LastTwoVelocity};

    /// One object walking right at `speed` px per frame for `frames` frames, h = 100.
    fn walker(id: i64, speed: f64, frames: u64) -> (Vec<Point>, Truth) {
        let mut truth = Truth::new();
        let points = (1..=frames)
            .map(|f| {
                let cx = 100.0 + speed * f as f64;
                truth.insert((id, f), [cx, 50.0, 40.0, 100.0]);
                Point {
                    frame: f,
                    bbox: BBox::from_cxcywh(cx as f32, 50.0, 40.0, 100.0),
                    target: Some(id),
                }
            })
            .collect();
        (points, truth)
    }

    #[test]
    fn constant_position_misses_by_the_distance_walked() {
        let (points, truth) = walker(1, 2.0, 10);
        let e = score_model(&[points], ConstantPosition::default, 10.0, &[3], &truth);
        let s = e[0].summary(0.3);
        // Origins 1..=7 have a truth 3 frames later: each misses by 6 px; ADE (2+4+6)/3 = 4.
        assert_eq!(s.forecasts, 7);
        assert!((s.fde_median_px - 6.0).abs() < 1e-4, "{s:?}");
        assert!((s.ade_mean_px - 4.0).abs() < 1e-4, "{s:?}");
        assert!((s.fde_mean_per_height - 0.06).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn constant_velocity_is_exact_on_a_steady_walk_after_its_first_frame() {
        let (points, truth) = walker(1, 2.0, 10);
        let e = score_model(&[points], LastTwoVelocity::default, 10.0, &[2], &truth);
        let s = e[0].summary(0.2);
        // The first origin has no velocity yet (misses by 4 px); the other 7 are exact.
        assert_eq!(s.forecasts, 8);
        assert!(
            s.fde_median_px < 1e-4 && (s.fde_mean_px - 0.5).abs() < 1e-4,
            "{s:?}"
        );
    }

    #[test]
    fn a_forecast_without_truth_at_its_horizon_is_skipped() {
        let (points, mut truth) = walker(1, 2.0, 10);
        truth.remove(&(1, 5));
        let e = score_model(&[points], ConstantPosition::default, 10.0, &[1], &truth);
        // Origin 4 has no truth a frame later, and origin 5 none to measure the height by.
        assert_eq!(e[0].summary(0.1).forecasts, 7);
    }

    #[test]
    fn ellipse_shares_count_mahalanobis_quantiles() {
        let mut truth = Truth::new();
        truth.insert((1, 1), [0.0, 0.0, 10.0, 10.0]);
        for (k, x) in [(1, 1.0), (2, 2.0), (3, 3.0)] {
            truth.insert((1, 1 + k), [x, 0.0, 10.0, 10.0]);
        }
        // Unit covariance at the origin: d² = 1, 4, 9 for the three steps.
        let unit = Some(Forecast {
            center: [0.0, 0.0],
            size: [10.0, 10.0],
            cov: [1.0, 0.0, 1.0],
        });
        let mut errors = vec![HorizonErrors::default(); 3];
        score_origin(&[unit; 3], 1, 1, &truth, &[1, 2, 3], &mut errors);
        let inside: Vec<[f64; 3]> = errors
            .iter()
            .map(|e| {
                let s = e.summary(0.0);
                [s.inside_50, s.inside_90, s.inside_95]
            })
            .collect();
        assert_eq!(inside, vec![[1.0; 3], [0.0, 1.0, 1.0], [0.0; 3]]);
    }

    #[test]
    fn frames_without_a_target_are_observed_but_not_judged() {
        let (mut points, truth) = walker(1, 2.0, 10);
        for p in &mut points[..5] {
            p.target = None;
        }
        let e = score_model(&[points], LastTwoVelocity::default, 10.0, &[1], &truth);
        let s = e[0].summary(0.1);
        // Origins 6..=9; all exact because the first five frames were still observed.
        assert_eq!(s.forecasts, 4);
        assert!(s.fde_mean_px < 1e-4, "{s:?}");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(horizon_steps(&[0.5, 1.0, 2.0], 14.0), vec![7, 14, 28]);
    }
}
