//! Exponential backoff with jitter, between attempts to reach something that failed: a camera
//! (`source::live`) or the MQTT broker (`comms::mqtt`).
//!
//! The limit doubles from `initial` up to `max` with every wait and goes back to `initial` on
//! `reset`; each wait is the limit times a factor drawn uniformly from the `jitter` range, so
//! that many clients that lost the same server do not all come back in the same instant.

use std::ops::RangeInclusive;
use std::time::Duration;

use rand::Rng;

#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    limit: Duration,
    jitter: RangeInclusive<f64>,
}

impl Backoff {
    /// Waits doubling from `initial` up to `max` (at least `initial`), each the limit times a
    /// factor from `jitter`: `0.5..=1.0` draws them from [½·limit, limit], `1.0..=1.25` adds up
    /// to a quarter.
    pub fn new(initial: Duration, max: Duration, jitter: RangeInclusive<f64>) -> Self {
        Self {
            initial,
            max: max.max(initial),
            limit: initial,
            jitter,
        }
    }

    /// The next wait; the one after may be twice as long.
    pub fn next_wait(&mut self, rng: &mut impl Rng) -> Duration {
        let limit = self.limit;
        self.limit = limit.saturating_mul(2).min(self.max);
        limit.mul_f64(rng.gen_range(self.jitter.clone()))
    }

    /// After a success: the next wait is drawn from `initial` again.
    pub fn reset(&mut self) {
        self.limit = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn waits(b: &mut Backoff, rng: &mut impl Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| b.next_wait(rng).as_secs_f64()).collect()
    }

    #[test]
    fn the_limit_doubles_up_to_max_and_reset_starts_over() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = Backoff::new(secs(0.5), secs(4.0), 1.0..=1.0);
        assert_eq!(waits(&mut b, &mut rng, 6), [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]);
        b.reset();
        assert_eq!(waits(&mut b, &mut rng, 2), [0.5, 1.0]);
    }

    #[test]
    fn waits_stay_within_the_jitter_of_their_limit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (lo, hi) in [(0.5, 1.0), (1.0, 1.25)] {
            let mut b = Backoff::new(secs(0.5), secs(10.0), lo..=hi);
            let limits = [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0];
            let got = waits(&mut b, &mut rng, limits.len());
            for (w, limit) in got.iter().zip(limits) {
                assert!(
                    *w >= limit * lo - 1e-9 && *w <= limit * hi + 1e-9,
                    "{w} vs {limit}"
                );
            }
            // Jittered: not every wait at one end of its range.
            assert!(got
                .iter()
                .zip(limits)
                .any(|(w, l)| *w != l * lo && *w != l * hi));
        }
    }

    #[test]
    fn a_max_below_initial_is_initial() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut b = Backoff::new(secs(2.0), secs(1.0), 1.0..=1.0);
        assert_eq!(waits(&mut b, &mut rng, 3), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn a_long_run_of_failures_neither_overflows_nor_passes_max() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let day = Duration::from_secs(86_400);
        let mut b = Backoff::new(day, day * 1000, 1.0..=1.0);
        let last = (0..200).map(|_| b.next_wait(&mut rng)).last().unwrap();
        assert_eq!(last, day * 1000);
    }
}
