#!/usr/bin/env python3
"""Fits the look-ahead's learned velocity weights (src/predict/learned_weights.rs).

The forecast of the centre `tau` seconds after the last box is

    centre + height * tau * (w(tau) . features)

per image axis, where `features` are the box centre's velocities, in box heights per second,
measured back over lags of 1/30 s to 1 s (clamped to the trajectory's age, interpolated between
its boxes), each also multiplied by gates s / (s + c) of the 1-s speed s: a standing person's
velocity is mostly jitter, a walker's is real, and a linear model cannot tell without them.

Trained on the FIRST half of each shared MOT17 sequence's ground truth (class 1, consider 1),
frames 1..N/2 — `vigil eval-predict` reports the second half, which is never seen here (nor is
MOT15, the held-out check of docs/PREDICTION.md). The fit is robust (see `robust_fit`). The
gates and lags were chosen the same way as its scale: each sequence's first half left out in
turn, the others fitted (gates 0.02–0.5 or 0.01–1, six or ten lags).

Outside what it was fitted on (a 1-s velocity beyond what 99 % of the samples have, per axis:
a car, a runner) a linear model extrapolates blindly; the look-ahead then hands over to the
window regression (`learned.rs`), so the fit also writes that bound.

Usage: fit_look_ahead.py [SHARED] > src/predict/learned_weights.rs   (needs numpy)
       fit_look_ahead.py SHARED --sequences MOT17-02,MOT17-04,MOT17-09 --json OUT.json
         (the same fit on some of the sequences, as JSON for `vigil eval-predict
          --look-ahead-weights`: scripts/eval_predict_loso.sh leaves each sequence out in turn)
"""
import bisect
import collections
import configparser
import pathlib
import sys

import numpy as np

SEQUENCES = ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"]
LAGS_S = [1 / 30, 2 / 30, 4 / 30, 8 / 30, 16 / 30, 1.0]
GATES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
HORIZONS_S = [0.25, 0.5, 1.0, 1.5, 2.0]
CAUCHY_SCALE = 0.5


def trajectories(seq):
    ini = configparser.ConfigParser()
    ini.read(seq / "seqinfo.ini")
    fps = float(ini["Sequence"]["frameRate"])
    length = int(ini["Sequence"]["seqLength"])
    boxes = collections.defaultdict(dict)
    for line in open(seq / "gt/gt.txt"):
        v = [float(a) for a in line.split(",")]
        if v[6] != 1 or v[7] != 1:
            continue
        boxes[int(v[1])][int(v[0])] = (v[2] + v[4] / 2, v[3] + v[5] / 2, v[5])
    return fps, length, boxes


def features(times, centres, height):
    """Velocities over each lag, then each gated; the same as `learned.rs` computes."""
    now, here = times[-1], centres[-1]
    age = now - times[0]
    velocities = []
    for lag in LAGS_S:
        lag = min(lag, age)
        if lag <= 0:
            velocities.append(np.zeros(2))
            continue
        t = now - lag
        j = bisect.bisect_left(times, t)
        if times[j] == t:
            then = centres[j]
        else:
            a = (t - times[j - 1]) / (times[j] - times[j - 1])
            then = (1 - a) * centres[j - 1] + a * centres[j]
        velocities.append((here - then) / (height * lag))
    v = np.array(velocities)  # lags × axes
    speed = np.hypot(*v[-1])
    gated = [v * (speed / (speed + c)) for c in GATES]
    return np.concatenate([v] + gated)  # (lags × (1 + gates)) × axes


def samples(seq):
    fps, length, boxes = trajectories(seq)
    last = length // 2
    rows = {h: ([], []) for h in HORIZONS_S}
    velocities = []
    for track in boxes.values():
        frames = sorted(f for f in track if f <= last)
        times, centres = [], []
        for f in frames:
            cx, cy, height = track[f]
            times.append(f / fps)
            centres.append(np.array([cx, cy]))
            x = features(times, centres, height)
            velocities.append(np.abs(x[len(LAGS_S) - 1]))
            for h in HORIZONS_S:
                k = max(1, round(h * fps))
                if f + k > last or f + k not in track:
                    continue
                dt = k / fps
                target = (np.array(track[f + k][:2]) - centres[-1]) / height
                rows[h][0].append(x * dt)
                rows[h][1].append(target)
    return rows, velocities


def robust_fit(a, y):
    """Least squares reweighted towards the bulk of the errors (a Cauchy loss whose scale is half
    the errors' robust spread): what is judged is the median error, and the people who stop or
    turn, whom no extrapolation foresees, should not pull the fit. The scale was chosen by
    leaving each sequence's first half out in turn (absolute error, and Cauchy scales of 2.4,
    1, 0.5, 0.35 and 0.25 spreads: 0.5 did best at 1 s)."""
    w = np.linalg.lstsq(a, y, rcond=None)[0]
    for _ in range(40):
        r = np.abs(y - a @ w)
        scale = CAUCHY_SCALE * np.median(r) / 0.6745
        weight = 1 / (1 + (r / scale) ** 2)
        aw = a * weight[:, None]
        w = np.linalg.solve(a.T @ aw + 1e-8 * np.eye(a.shape[1]), aw.T @ y)
    return w


def main():
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("shared", nargs="?", default="../shared")
    ap.add_argument("--sequences", default=",".join(SEQUENCES))
    ap.add_argument("--json")
    args = ap.parse_args()
    shared = pathlib.Path(args.shared)
    rows = {h: ([], []) for h in HORIZONS_S}
    velocities = []
    for name in args.sequences.split(","):
        per_horizon, seen = samples(shared / "mot/MOT17" / name)
        velocities.extend(seen)
        for h, (x, y) in per_horizon.items():
            rows[h][0].extend(x)
            rows[h][1].extend(y)
    trusted = np.percentile(np.array(velocities), 99, axis=0)
    weights = []
    for h in HORIZONS_S:
        x, y = np.array(rows[h][0]), np.array(rows[h][1])
        weights.append([robust_fit(x[:, :, axis], y[:, axis]) for axis in range(2)])
        print(f"horizon {h} s: {len(y)} samples", file=sys.stderr)
    n = len(LAGS_S) * (1 + len(GATES))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sequences": args.sequences.split(","), "trusted_velocity": list(trusted),
                       "weights": [[list(w) for w in per_axis] for per_axis in weights]}, f)
        return
    fmt = lambda values: "[" + ", ".join(f"{v:.9e}" for v in values) + "]"
    print("// Generated by scripts/fit_look_ahead.py from the first half of the MOT17 sequences;")
    print("// do not edit. See src/predict/learned.rs.")
    print("#[rustfmt::skip]")
    print(f"pub(super) const LAGS_S: [f64; {len(LAGS_S)}] = {fmt(LAGS_S)};")
    print("#[rustfmt::skip]")
    print(f"pub(super) const GATES: [f64; {len(GATES)}] = {fmt(GATES)};")
    print("#[rustfmt::skip]")
    print(f"pub(super) const HORIZONS_S: [f64; {len(HORIZONS_S)}] = {fmt(HORIZONS_S)};")
    print("/// The 1-s velocity, per axis in box heights per second, that 99 % of the samples stay under.")
    print("#[rustfmt::skip]")
    print(f"pub(super) const TRUSTED_VELOCITY: [f64; 2] = {fmt(trusted)};")
    print(f"/// Per horizon, per axis (x, y): {n} weights, lags fastest, ungated then each gate.")
    print("#[rustfmt::skip]")
    print(f"pub(super) const WEIGHTS: [[[f64; {n}]; 2]; {len(HORIZONS_S)}] = [")
    for per_axis in weights:
        print("    [")
        for w in per_axis:
            print(f"        {fmt(w)},")
        print("    ],")
    print("];")


if __name__ == "__main__":
    main()
