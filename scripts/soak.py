#!/usr/bin/env python3
"""Soak run of the daemon: two RTSP cameras (GStreamer's server, each restarting the video when a
client reconnects, so every ~80 s each camera's stream ends and vigil reconnects) for DURATION
seconds, sampling /metrics every INTERVAL seconds with a real Prometheus text parser.

  scripts/soak.py [--duration 600] [--interval 10] [--warmup 60] [--out out/soak.csv]

Prints RSS after warm-up (min, median, max and their spread around the median), frames,
drops, reconnects and latency quantiles, and writes every sample to a CSV.
Needs the release build, the packages of scripts/bootstrap.sh, and prometheus-client (pip).
"""
import argparse, csv, os, signal, statistics, subprocess, sys, tempfile, time, urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "prometheus-client"])
    from prometheus_client.parser import text_string_to_metric_families

from soaklib import free_port, root, rtsp


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, s.labels.get("camera", ""), s.labels.get("le", ""))
            values[key] = s.value
    return values


def latency_quantile(v, camera, q):
    buckets = sorted((float(le), n) for (name, cam, le), n in v.items()
                     if name == "vigil_latency_seconds_bucket" and cam == camera)
    total = buckets[-1][1] if buckets else 0
    for le, n in buckets:
        if total and n >= q * total:
            return le
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--out", default=os.path.join(root, "out", "soak.csv"))
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    work = tempfile.mkdtemp(prefix="vigil-soak-")
    ports = [free_port(), free_port()]
    http = free_port()
    servers = [rtsp(p, "admin", "secret") for p in ports]
    config = os.path.join(work, "soak.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{http}"\n[record]\ndir = "{work}/rec"\nvideo = true\nsegment_s = 60\n')
        for i, p in enumerate(ports):
            f.write(f'[cameras.cam{i}]\nurl = "rtsp://admin:secret@127.0.0.1:{p}/cam"\n')
    daemon = subprocess.Popen([os.path.join(root, "target/release/vigil"), "serve", "--config", config],
                              stderr=open(os.path.join(work, "stderr.log"), "w"))
    rows, start = [], time.time()
    try:
        while time.time() - start < a.duration:
            time.sleep(a.interval)
            try:
                v = scrape(http)
            except OSError as e:
                print(f"scrape failed: {e}", file=sys.stderr)
                continue
            t = time.time() - start
            row = {"t_s": round(t, 1), "rss_mb": v[("process_resident_memory_bytes", "", "")] / 2**20}
            for c in ("cam0", "cam1"):
                for name in ("captured", "processed", "dropped"):
                    row[f"{c}_{name}"] = v.get((f"vigil_frames_{name}_total", c, ""), 0)
                row[f"{c}_reconnects"] = v.get(("vigil_reconnects_total", c, ""), 0)
                row[f"{c}_lat_p50_le_s"] = latency_quantile(v, c, 0.5)
                row[f"{c}_lat_p99_le_s"] = latency_quantile(v, c, 0.99)
            rows.append(row)
            print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
        for s in servers:
            s.kill()
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    rss = [r["rss_mb"] for r in rows if r["t_s"] >= a.warmup]
    med = statistics.median(rss)
    last = rows[-1]
    print(f"\nsamples {len(rows)}, after {a.warmup:.0f} s warm-up: RSS min {min(rss):.1f} MB, median {med:.1f}, "
          f"max {max(rss):.1f} ({(min(rss) / med - 1) * 100:+.1f} % / {(max(rss) / med - 1) * 100:+.1f} % of the median)")
    for c in ("cam0", "cam1"):
        print(f"{c}: captured {last[c + '_captured']:.0f}, processed {last[c + '_processed']:.0f}, "
              f"dropped {last[c + '_dropped']:.0f}, reconnects {last[c + '_reconnects']:.0f}, "
              f"latency p50 <= {last[c + '_lat_p50_le_s'] * 1000:.0f} ms, p99 <= {last[c + '_lat_p99_le_s'] * 1000:.0f} ms")
    print(f"daemon exit code after SIGTERM: {code}; samples in {a.out}")


if __name__ == "__main__":
    main()
