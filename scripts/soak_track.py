#!/usr/bin/env python3
"""Soak run of `vigil track` on a source that never ends: GStreamer's RTSP server plays vtest.avi
and starts it again whenever the client reconnects, so every ~80 s the stream ends and vigil's
live source reconnects. vigil writes annotated video, MOT and JSON Lines the whole time.
Samples the process's resident memory and open file descriptors every INTERVAL seconds.

  scripts/soak_track.py [--duration 1800] [--interval 10] [--warmup 120] [--out out/soak-track.csv]

Prints, after warm-up: RSS and descriptor count (min, median, max, spread around the median),
and the drift between the first and the last fifth of the run. Needs the release build and the
packages of scripts/bootstrap.sh.
"""
import argparse, csv, os, signal, statistics, subprocess, sys, time

from soaklib import free_port, root, rtsp


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def summary(name, values, unit):
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    fifth = max(1, len(values) // 5)
    first, last = statistics.median(values[:fifth]), statistics.median(values[-fifth:])
    print(f"{name}: min {lo:.1f} median {med:.1f} max {hi:.1f} {unit} "
          f"(spread {100 * (lo - med) / med:+.1f} % / {100 * (hi - med) / med:+.1f} %), "
          f"drift first→last fifth {first:.1f} → {last:.1f} ({100 * (last - first) / first:+.1f} %)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=1800)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=120)
    ap.add_argument("--out", default=os.path.join(root, "out", "soak-track.csv"))
    ap.add_argument("--vigil", default=os.path.join(root, "target/release/vigil"))
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    work = os.path.join(root, "out", "soak-track")
    os.makedirs(work, exist_ok=True)

    port = free_port()
    server = rtsp(port)
    vigil = subprocess.Popen([args.vigil, "--quiet", "track",
                              f"rtsp://127.0.0.1:{port}/cam",
                              "-o", os.path.join(work, "soak.mp4"),
                              "--mot", os.path.join(work, "soak.txt"),
                              "--json", os.path.join(work, "soak.jsonl")],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(work, "stderr.log"), "w"))
    rows, started = [], time.time()
    try:
        while time.time() - started < args.duration:
            time.sleep(args.interval)
            if vigil.poll() is not None:
                sys.exit(f"vigil exited early ({vigil.returncode}); see {work}/stderr.log")
            rss, fds = sample(vigil.pid)
            rows.append((round(time.time() - started, 1), round(rss, 1), fds))
    finally:
        vigil.send_signal(signal.SIGTERM)
        code = vigil.wait(timeout=30)
        server.terminate()
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_mb", "open_fds"])
        w.writerows(rows)
    kept = [r for r in rows if r[0] >= args.warmup]
    print(f"{len(rows)} samples over {args.duration:.0f} s, {len(kept)} after {args.warmup:.0f} s "
          f"of warm-up; vigil exit code {code}")
    summary("RSS", [r[1] for r in kept], "MB")
    summary("open descriptors", [float(r[2]) for r in kept], "")
    with open(os.path.join(work, "soak.txt")) as f:
        frames = {line.split(",")[0] for line in f}
    print(f"frames with tracks in the MOT file: {len(frames)}")


if __name__ == "__main__":
    main()
