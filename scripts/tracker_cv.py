#!/usr/bin/env python3
"""Cross-validated tuning of the tracker (docs/TRACKER.md, "How its settings are chosen").

Ten sequences: the shared MOT17 four (val half, ByteTrack's YOLOX-X detections, the camera's
motion given by BoT-SORT's GMC files) and the shared MOT15 six (the SORT paper's Faster R-CNN
detections, no camera motion). Coordinate descent over `[tracker]` keys, each candidate scored
per sequence by `vigil eval` (TrackEval's HOTA, online, `vigil track --detections`):

- leave one sequence out: for each of the ten, tuned on the other nine and scored on it; the
  held-out results of each set are then scored together (`vigil eval` over the set), the figure
  that says how the method does on a sequence it did not see;
- in sample: tuned on all ten and scored on them (the configuration `configs/mot17.toml` ships);
- the current `configs/mot17.toml`, for reference.

The objective a fold maximises: the mean of the two sets' mean per-sequence HOTA over its
training sequences (each set counts the same, each sequence the same within its set).

    scripts/tracker_cv.py [--start configs/mot17.toml] [--passes 1] [--min-gain 0.1] [--json OUT]
      (needs $VIGIL_SHARED or ../shared and a release build; ~20 min on 2 cores; standard library)
"""
import argparse
import concurrent.futures as futures
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("VIGIL_SHARED", os.path.join(ROOT, "..", "shared"))
VIGIL = os.path.join(ROOT, "target", "release", "vigil")
WORK = os.path.join(ROOT, "out", "tracker_cv")
VAL = os.path.join(WORK, "val")
MOT15 = os.path.join(SHARED, "mot", "MOT15")
# Each set: its folder, the detections and the extra flags `vigil track` gets.
SETS = {
    "MOT17": (VAL, "det/det.txt", ["--camera-motion", "gmc/botsort.txt"]),
    "MOT15": (MOT15, "det/frcnn.txt", []),
}
GRID = {
    "high_score": [0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75],
    "new_track_score": [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9],
    "low_score": [0.05, 0.1, 0.2, 0.3],
    "match_cost": [0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
    "low_match_cost": [0.3, 0.4, 0.5, 0.6, 0.7],
    "tentative_match_cost": [0.5, 0.6, 0.7, 0.8, 0.9],
    "lost_timeout_s": [0.5, 0.75, 1.0, 1.5, 2.0],
    "coast_s": [0.0, 0.05, 0.1, 0.2],
    "position_noise": [0.03, 0.05, 0.07],
    "velocity_noise": [0.003, 0.00625, 0.012],
    "match_buffer": [0.0, 0.05, 0.1, 0.2, 0.3],
    "match_buffer_per_s": [0.0, 0.1, 0.25, 0.5, 1.0],
}
# TrackerConfig's defaults (src/track/byte.rs), under what the starting file sets.
DEFAULTS = {
    "high_score": 0.5, "new_track_score": 0.6, "low_score": 0.1, "match_cost": 0.8,
    "low_match_cost": 0.5, "tentative_match_cost": 0.7, "lost_timeout_s": 1.0, "coast_s": 0.1,
    "position_noise": 0.05, "velocity_noise": 0.00625, "match_buffer": 0.0,
    "match_buffer_per_s": 0.0,
}
PASSES = 1
MIN_GAIN = 0.1
POOL = futures.ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)))


def sequences(folder):
    return sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))


def key(params):
    return hashlib.sha1(json.dumps(sorted(params.items())).encode()).hexdigest()[:16]


class Runs:
    """Every candidate tracked once: its per-sequence HOTA and its result folders."""

    def __init__(self):
        self.scores = {}

    def folder(self, params):
        return os.path.join(WORK, "runs", key(params))

    def run(self, params):
        k = key(params)
        if k in self.scores:
            return self.scores[k]
        out = self.folder(params)
        os.makedirs(out, exist_ok=True)
        config = os.path.join(out, "tracker.toml")
        with open(config, "w") as f:
            f.write("[tracker]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(params.items())))
        per_seq = {}
        for name, (data, det, flags) in SETS.items():
            res = os.path.join(out, name)
            subprocess.run([VIGIL, "-q", "track", data, "--detections", det, "--mot", res,
                            "--config", config, *flags], check=True, stdout=subprocess.DEVNULL)
            per_seq.update(hota_by_sequence(data, res))
        self.scores[k] = per_seq
        return per_seq

    def many(self, candidates):
        return list(POOL.map(self.run, candidates))


def eval_table(gt, res):
    out = subprocess.run([VIGIL, "eval", "--gt", gt, "--res", res],
                         check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 9 and cols[0] != "sequence":
            try:
                rows[cols[0]] = (float(cols[1]), float(cols[5]), float(cols[7]), int(cols[8]))
            except ValueError:
                pass
    return rows


def hota_by_sequence(gt, res):
    return {s: v[0] for s, v in eval_table(gt, res).items() if s != "COMBINED"}


@functools.cache
def set_of(seq):
    """The set a sequence belongs to (its folder is listed once, not on every candidate)."""
    return next(name for name, (data, _, _) in SETS.items() if seq in sequences(data))


def objective(per_seq, train):
    means = []
    for name in SETS:
        scores = [per_seq[s] for s in train if set_of(s) == name]
        if scores:
            means.append(sum(scores) / len(scores))
    return sum(means) / len(means)


def tune(runs, start, train, label, passes=PASSES, min_gain=MIN_GAIN):
    """Greedy coordinate descent: a key's value changes only for a gain above `min_gain`."""
    best = dict(start)
    best_score = objective(runs.run(best), train)
    for _ in range(passes):
        improved = False
        for k, values in GRID.items():
            trials = [{**best, k: v} for v in values if v != best.get(k)]
            trials = [t for t in trials if t["low_score"] <= t["high_score"]]
            for trial, per_seq in zip(trials, runs.many(trials)):
                score = objective(per_seq, train)
                if score > best_score + min_gain:
                    best, best_score, improved = trial, score, True
        if not improved:
            break
    print(f"tuned {label}: {best_score:.3f} {json.dumps(best)}", file=sys.stderr, flush=True)
    return best


def gather(runs, choices, name):
    """One folder holding each sequence of set `name` as tracked with the parameters chosen
    without it."""
    data = SETS[name][0]
    out = os.path.join(WORK, "held_out", name)
    os.makedirs(out, exist_ok=True)
    for seq in sequences(data):
        src = os.path.join(runs.folder(choices[seq]), name, seq + ".txt")
        shutil.copy(src, os.path.join(out, seq + ".txt"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", default=os.path.join(ROOT, "configs", "mot17.toml"))
    ap.add_argument("--passes", type=int, default=PASSES, help="passes over the grid")
    ap.add_argument("--min-gain", type=float, default=MIN_GAIN,
                    help="the objective's least gain (HOTA) that changes a value")
    ap.add_argument("--json", help="write the figures and the chosen parameters here")
    args = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    subprocess.run([sys.executable, os.path.join(SHARED, "tools", "mot_valhalf.py"), VAL],
                   check=True, stdout=subprocess.DEVNULL)
    with open(args.start, "rb") as f:
        start = {**DEFAULTS, **tomllib.load(f)["tracker"]}
    runs = Runs()
    everything = [s for data, _, _ in SETS.values() for s in sequences(data)]
    tuning = {"passes": args.passes, "min_gain": args.min_gain}
    in_sample = tune(runs, start, everything, "on all ten", **tuning)
    choices = {}
    for seq in everything:
        rest = [s for s in everything if s != seq]
        choices[seq] = tune(runs, start, rest, f"without {seq}", **tuning)
    report = {"tuning": tuning, "start": start, "in_sample": in_sample, "without": choices, "sets": {}}
    print("| set | start (configs/mot17.toml) | tuned on all ten (in sample) | "
          "leave one sequence out |\n|---|---|---|---|")
    for name, (data, _, _) in SETS.items():
        figures = {
            "start": eval_table(data, os.path.join(runs.folder(start), name))["COMBINED"],
            "in_sample": eval_table(data, os.path.join(runs.folder(in_sample), name))["COMBINED"],
            "loso": eval_table(data, gather(runs, choices, name))["COMBINED"],
        }
        report["sets"][name] = figures
        cell = lambda f: f"{f[0]:.3f} / {f[2]:.3f} / {f[3]}"
        print(f"| {name} (HOTA / IDF1 / IDSW) | {cell(figures['start'])} | "
              f"{cell(figures['in_sample'])} | {cell(figures['loso'])} |")
    print(f"\n{len(runs.scores)} candidates tracked", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
