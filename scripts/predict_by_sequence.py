#!/usr/bin/env python3
"""Per-sequence table of `vigil eval-predict --json` on vigil's tracks, at one horizon: median FDE
of vigil's own forecasts, ByteTrack's Kalman filter fed the same tracks' boxes, and constant
position, and the share of outcomes inside vigil's 90 % ellipse. Static and moving cameras apart.
  predict_by_sequence.py REPORT.json [--horizon 1] [--moving MOT17-05,...]"""
import argparse
import json

ap = argparse.ArgumentParser()
ap.add_argument("report")
ap.add_argument("--horizon", type=float, default=1.0)
ap.add_argument("--moving", default="MOT17-05,MOT17-10,MOT17-11,MOT17-13")
args = ap.parse_args()
report = json.load(open(args.report))
moving = set(args.moving.split(","))
models = {"vigil tracker forecasts": "vigil", "ByteTrack Kalman filter": "Kalman", "constant position": "still"}


def at(rows):
    out = {}
    for m in rows or []:
        if m["model"] in models:
            for h in m["horizons"]:
                if abs(h["horizon_s"] - args.horizon) < 1e-9:
                    out[models[m["model"]]] = h
    return out


print(f"| sequence | camera | vigil FDE med px | Kalman | constant position | vigil in 90 % | forecasts |")
print("|---|---|---|---|---|---|---|")
rows = sorted(report["sequences"], key=lambda s: (s[0] in moving, s[0]))
for name, scores in rows:
    h = at(scores.get("vigil_tracks"))
    if not h:
        continue
    best = min(h["Kalman"]["fde_median_px"], h["still"]["fde_median_px"])
    mark = "**" if h["vigil"]["fde_median_px"] < best else ""
    print(f"| {name} | {'moving' if name in moving else 'static'} | {mark}{h['vigil']['fde_median_px']:.1f}{mark} | "
          f"{h['Kalman']['fde_median_px']:.1f} | {h['still']['fde_median_px']:.1f} | {h['vigil']['inside_90']:.3f} | "
          f"{h['vigil']['forecasts']} |")
