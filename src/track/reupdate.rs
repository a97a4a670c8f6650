//! Observation-centric re-update (OC-SORT): when a track is found again after `gap − 1` missed
//! frames, its filter is replayed from the state at its last observation through one virtual
//! observation per missed frame, on the straight line to the new one. Blind prediction during the
//! gap lets velocity and covariance drift; the replay makes them what a continuously observed
//! object moving along that line would have.

use super::kalman::{KalmanBox, KalmanNoise};

/// The filter as if the object had been seen at every frame between `from` (where
/// `at_observation` was last updated) and `to`, predicted up to the frame of `to` but not yet
/// updated with it. `elapsed_s` is the time between the two observations.
pub fn replay_gap(
    at_observation: &KalmanBox,
    from: [f64; 4],
    to: [f64; 4],
    gap: u32,
    elapsed_s: f64,
    noise: &KalmanNoise,
) -> KalmanBox {
    let mut kf = at_observation.clone();
    let step = elapsed_s / gap as f64;
    for k in 1..gap {
        let f = k as f64 / gap as f64;
        kf.predict(step, noise);
        kf.update(
            std::array::from_fn(|j| from[j] + (to[j] - from[j]) * f),
            noise,
        );
    }
    kf.predict(step, noise);
    kf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_follows_the_line_between_observations() {
        let noise = KalmanNoise::default();
        let start = KalmanBox::new([0.0, 0.0, 10.0, 20.0], &noise);
        // Seen again 10 frames (1 s) later, 100 px to the right.
        let kf = replay_gap(
            &start,
            [0.0, 0.0, 10.0, 20.0],
            [100.0, 0.0, 10.0, 20.0],
            10,
            1.0,
            &noise,
        );
        let [cx, cy, ..] = kf.state_box();
        assert!(
            (cx - 100.0).abs() < 15.0 && cy.abs() < 1e-9,
            "predicted to ({cx}, {cy})"
        );
        assert!(
            kf.velocity()[0] > 50.0,
            "velocity {:?} should follow the gap's 100 px/s",
            kf.velocity()
        );
        // A single-frame gap is a plain prediction.
        let mut plain = start.clone();
        plain.predict(0.1, &noise);
        assert_eq!(
            replay_gap(&start, [0.0; 4], [5.0; 4], 1, 0.1, &noise).state_box(),
            plain.state_box()
        );
    }
}
