#!/usr/bin/env python3
"""Does tuning the tracker's parameters on the MOT17 val half carry over to data it was not tuned
on? Coordinate descent over `[tracker]` keys, scored by `vigil eval` (combined HOTA):

1. tuned on all four sequences, scored on them (what "tuning on the test data" reports),
   and the same parameters on MOT15 (another detector, other scenes);
2. leave one sequence out: tuned on three, scored on the fourth; the four held-out results are
   then scored together — a cross-validated HOTA for "tune on the val half" as a method.

    scripts/tracker_tuning_cv.py      (needs $VIGIL_SHARED or ../shared and a release build; ~4 min)
Standard library only.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("VIGIL_SHARED", os.path.join(ROOT, "..", "shared"))
VIGIL = os.path.join(ROOT, "target", "release", "vigil")
WORK = os.path.join(ROOT, "out", "tuning")
SEQS = ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"]

START = {  # configs/mot17.toml over the defaults
    "high_score": 0.6, "new_track_score": 0.7, "low_score": 0.1, "match_cost": 0.8,
    "low_match_cost": 0.5, "tentative_match_cost": 0.7, "lost_timeout_s": 1.0, "coast_s": 0.1,
    "position_noise": 0.05, "velocity_noise": 0.00625,
}
GRID = {
    "high_score": [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75],
    "new_track_score": [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85],
    "low_score": [0.05, 0.1, 0.15, 0.2, 0.3],
    "match_cost": [0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
    "low_match_cost": [0.3, 0.4, 0.5, 0.6, 0.7],
    "tentative_match_cost": [0.5, 0.6, 0.7, 0.8, 0.9],
    "lost_timeout_s": [0.5, 0.75, 1.0, 1.5, 2.0, 2.5],
    "coast_s": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3],
    "position_noise": [0.03, 0.04, 0.05, 0.06, 0.08],
    "velocity_noise": [0.003, 0.0045, 0.00625, 0.008, 0.012],
}


def track(params, data, res, det="det/det.txt"):
    """Tracks every sequence of `data` with `params` into `res`."""
    config = res + ".toml"
    with open(config, "w") as f:
        f.write("[tracker]\n" + "".join(f"{k} = {v}\n" for k, v in params.items()))
    subprocess.run([VIGIL, "-q", "track", data, "--detections", det, "--mot", res,
                    "--config", config], check=True, stdout=subprocess.DEVNULL)


def scores(gt, res):
    """Combined HOTA, MOTA, IDF1 and IDSW of `res` against `gt`."""
    out = subprocess.run([VIGIL, "eval", "--gt", gt, "--res", res],
                         check=True, capture_output=True, text=True).stdout
    cols = next(l for l in out.splitlines() if l.startswith("COMBINED")).split()
    return float(cols[1]), float(cols[5]), float(cols[7]), int(cols[8])


def evaluate(params, data, det="det/det.txt"):
    with tempfile.TemporaryDirectory() as tmp:
        res = os.path.join(tmp, "res")
        track(params, data, res, det)
        return scores(data, res)


def tune(data):
    """Greedy coordinate descent on combined HOTA, up to three passes over the grid."""
    best, best_hota = dict(START), evaluate(START, data)[0]
    for _ in range(3):
        improved = False
        for key, values in GRID.items():
            for v in values:
                trial = {**best, key: v}
                if trial == best or trial["low_score"] > trial["high_score"]:
                    continue
                hota = evaluate(trial, data)[0]
                if hota > best_hota + 0.02:
                    best, best_hota, improved = trial, hota, True
        if not improved:
            break
    return best


def subset(name, seqs):
    """A folder of links to some val-half sequences (eval and track read whole folders)."""
    path = os.path.join(WORK, name)
    os.makedirs(path)
    for s in seqs:
        os.symlink(os.path.join(WORK, "val", s), os.path.join(path, s))
    return path


def row(label, s):
    print(f"| {label} | {s[0]:.3f} | {s[1]:.3f} | {s[2]:.3f} | {s[3]} |", flush=True)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    subprocess.run([sys.executable, os.path.join(SHARED, "tools", "mot_valhalf.py"),
                    os.path.join(WORK, "val")], check=True, stdout=subprocess.DEVNULL)
    val, mot15 = os.path.join(WORK, "val"), os.path.join(SHARED, "mot", "MOT15")
    print("| parameters → scored on | HOTA | MOTA | IDF1 | IDSW |\n|---|---|---|---|---|")
    row("configs/mot17.toml → val half", evaluate(START, val))
    row("configs/mot17.toml → MOT15", evaluate(START, mot15, "det/frcnn.txt"))
    tuned = tune(val)
    print(f"tuned on the val half: {tuned}", file=sys.stderr)
    row("tuned on the val half → val half (in sample)", evaluate(tuned, val))
    row("tuned on the val half → MOT15", evaluate(tuned, mot15, "det/frcnn.txt"))
    held_out = os.path.join(WORK, "held_out")
    for s in SEQS:
        params = tune(subset("without-" + s, [q for q in SEQS if q != s]))
        print(f"tuned without {s}: {params}", file=sys.stderr)
        only = subset("only-" + s, [s])
        track(params, only, held_out)
        row(f"tuned without {s} → {s}", scores(only, held_out))
        row(f"configs/mot17.toml → {s}", evaluate(START, only))
    row("leave-one-sequence-out, the four held-out results together", scores(val, held_out))


if __name__ == "__main__":
    main()
