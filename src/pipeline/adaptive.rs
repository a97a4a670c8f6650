//! The adaptive detection budget (`[detector] cpu_target`): keeps the detectors' share of the
//! machine's CPU under a target by raising `detect_every` on the busiest cameras first, and
//! lowering it again (never under a camera's own `detect_every`) when there is room.
//!
//! The rule ([`rebalance`]) is pure; [`Governor`] measures each camera's detector time over a
//! window, applies one step of the rule, and publishes every camera's current N where its
//! capture reads it (and in `/metrics` as `vigil_detect_every`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::intake::StreamId;
use crate::metrics::CameraMetrics;
use crate::periodic::Periodic;

/// The most frames a camera may go between detections under the adaptive budget: beyond it the
/// tracker's predictions drift too far between looks.
pub const MAX_ADAPTIVE_EVERY: u64 = 8;

/// How long the load is measured before each step.
const WINDOW: Duration = Duration::from_secs(2);

/// Lower N again only when the load would stay this far under the target, so the budget does
/// not swing back and forth around it.
const HEADROOM: f64 = 0.85;

/// One camera's detection work over the last window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraLoad {
    /// The N it runs under now.
    pub every: u64,
    /// Its own `detect_every`: the adaptive budget never goes under it.
    pub floor: u64,
    /// The share of the machine's CPU its detections took.
    pub share: f64,
}

/// One step towards `target` (a share of the machine's CPU): over it, the busiest camera that
/// can rise goes to N + 1; well under it, the camera with the highest N above its floor goes to
/// N − 1 if the load it would add keeps the total under the target with headroom. `None`: no
/// change.
pub fn rebalance(loads: &[CameraLoad], target: f64) -> Option<(usize, u64)> {
    let total: f64 = loads.iter().map(|l| l.share).sum();
    if total > target {
        return loads
            .iter()
            .enumerate()
            .filter(|(_, l)| l.every < MAX_ADAPTIVE_EVERY)
            .max_by(|(_, a), (_, b)| a.share.total_cmp(&b.share))
            .map(|(i, l)| (i, l.every + 1));
    }
    let (i, l) = loads
        .iter()
        .enumerate()
        .filter(|(_, l)| l.every > l.floor)
        .max_by(|(_, a), (_, b)| a.every.cmp(&b.every).then(b.share.total_cmp(&a.share)))?;
    // Detecting every (N−1)th frame instead of every Nth costs N/(N−1) times as much.
    let added = l.share * (l.every as f64 / (l.every - 1) as f64 - 1.0);
    (total + added < target * HEADROOM).then_some((i, l.every - 1))
}

/// A stream's current `detect_every`, shared between the governor and its capture.
pub type Every = Arc<AtomicU64>;

/// One stream as the governor sees it.
pub struct Governed {
    pub every: Every,
    pub floor: u64,
    pub metrics: CameraMetrics,
}

/// Streams joining and leaving the budget while it runs (the daemon's cameras come and go).
pub enum Membership {
    Join(StreamId, Governed),
    Leave(StreamId),
}

/// Applies [`rebalance`] every window while the pipeline runs; stops when dropped.
pub struct Governor {
    /// Held for its drop, which stops the thread.
    _thread: Periodic,
}

impl Governor {
    /// Streams are told through `members`; a change of members starts a new window.
    pub fn start(target: f64, members: Receiver<Membership>) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let mut streams: BTreeMap<StreamId, Governed> = BTreeMap::new();
        // Detector seconds of each camera at the start of the window, and when it started.
        let mut window: Option<(Vec<f64>, Instant)> = None;
        let step = move || {
            for change in members.try_iter() {
                match change {
                    Membership::Join(id, s) => {
                        s.metrics.set_detect_every(s.floor);
                        streams.insert(id, s);
                    }
                    Membership::Leave(id) => {
                        streams.remove(&id);
                    }
                }
                window = None;
            }
            let now: Vec<f64> = streams
                .values()
                .map(|s| s.metrics.detector_seconds())
                .collect();
            let Some((before, since)) = window.replace((now.clone(), Instant::now())) else {
                return; // the first window starts now
            };
            let window_s = since.elapsed().as_secs_f64().max(1e-3);
            let loads: Vec<CameraLoad> = streams
                .values()
                .zip(now.iter().zip(&before))
                .map(|(s, (now, before))| CameraLoad {
                    every: s.every.load(Ordering::Relaxed),
                    floor: s.floor,
                    share: (now - before) / (window_s * cores),
                })
                .collect();
            if let Some((i, every)) = rebalance(&loads, target) {
                let Some(s) = streams.values().nth(i) else {
                    return;
                };
                s.every.store(every, Ordering::Relaxed);
                s.metrics.set_detect_every(every);
                let load: f64 = loads.iter().map(|l| l.share).sum();
                tracing::info!(
                    camera = %s.metrics.name,
                    detect_every = every,
                    load = format!("{:.0} %", load * 100.0),
                    target = format!("{:.0} %", target * 100.0),
                    "detection budget"
                );
            }
        };
        Periodic::start("budget", WINDOW, step).map(|t| Self { _thread: t })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn load(every: u64, floor: u64, share: f64) -> CameraLoad {
        CameraLoad {
            every,
            floor,
            share,
        }
    }

    #[test]
    fn over_the_target_the_busiest_camera_rises_first() {
        let loads = [load(1, 1, 0.2), load(1, 1, 0.5), load(2, 1, 0.1)];
        assert_eq!(rebalance(&loads, 0.6), Some((1, 2)));
    }

    #[test]
    fn a_camera_at_the_ceiling_gives_way_to_the_next_busiest() {
        let loads = [load(1, 1, 0.3), load(MAX_ADAPTIVE_EVERY, 1, 0.5)];
        assert_eq!(rebalance(&loads, 0.6), Some((0, 2)));
        let all_up = [load(MAX_ADAPTIVE_EVERY, 1, 0.9)];
        assert_eq!(rebalance(&all_up, 0.6), None);
    }

    #[test]
    fn under_the_target_the_most_thinned_camera_comes_back_if_it_fits() {
        // Camera 1 at N = 4 using 0.1: at N = 3 it would use 0.133, total 0.333 < 0.85 × 0.6.
        let loads = [load(1, 1, 0.2), load(4, 1, 0.1)];
        assert_eq!(rebalance(&loads, 0.6), Some((1, 3)));
        // It would not fit under the headroom: no change (no swinging around the target).
        assert_eq!(rebalance(&loads, 0.38), None);
    }

    #[test]
    fn never_under_a_cameras_own_detect_every() {
        let loads = [load(3, 3, 0.05)];
        assert_eq!(rebalance(&loads, 0.9), None);
    }

    #[test]
    fn a_sequence_of_steps_settles_under_the_target() {
        // Two cameras whose full-rate detection takes 0.5 and 0.3 of the CPU; target 0.4.
        let full = [0.5, 0.3];
        let mut every = [1, 1];
        for _ in 0..20 {
            let loads: Vec<CameraLoad> = (0..2)
                .map(|i| load(every[i], 1, full[i] / every[i] as f64))
                .collect();
            if let Some((i, n)) = rebalance(&loads, 0.4) {
                every[i] = n;
            }
        }
        let total: f64 = (0..2).map(|i| full[i] / every[i] as f64).sum();
        assert!(total <= 0.4, "{every:?}: {total}");
        assert!(
            total > 0.25,
            "not thinned more than needed: {every:?}: {total}"
        );
    }

    /// Polls `check` until it holds; fails only after far more windows than it needs, so a
    /// loaded machine (whose windows run long) never fails it.
    fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + WINDOW * 60;
        while !check() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The governor itself, on its own windows: a camera whose detections take far more than
    /// the target in any window, however long the window runs, is thinned, and what it runs
    /// under is published; once the load is gone it comes back to its own `detect_every`.
    #[test]
    fn the_governor_thins_a_busy_camera_and_restores_it_when_the_load_goes() {
        let metrics = Metrics::new().unwrap();
        let camera = metrics.camera("busy");
        let every: Every = Arc::new(AtomicU64::new(1));
        let (members, joined) = crossbeam_channel::unbounded();
        members
            .send(Membership::Join(
                7,
                Governed {
                    every: every.clone(),
                    floor: 1,
                    metrics: camera.clone(),
                },
            ))
            .unwrap();
        let _governor = Governor::start(0.5, joined).unwrap();
        let published = |n: u64| {
            metrics
                .encode()
                .contains(&format!("vigil_detect_every{{camera=\"busy\"}} {n}"))
        };
        let mut seen = vec![];
        eventually("never thinned under a load far over its target", || {
            camera.frame_detected(1e6); // a million detector seconds at every look
            let n = every.load(Ordering::Relaxed);
            seen.push(n);
            n >= 2
        });
        assert!(
            seen.iter().all(|n| (1..=MAX_ADAPTIVE_EVERY).contains(n)),
            "{seen:?}"
        );
        eventually("the new N is published", || {
            published(every.load(Ordering::Relaxed))
        });
        eventually("never back at full rate once the load went", || {
            every.load(Ordering::Relaxed) == 1
        });
        eventually("full rate is published", || published(1));
    }
}
