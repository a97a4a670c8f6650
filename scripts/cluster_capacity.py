#!/usr/bin/env python3
"""How many 10 fps cameras one `vigil serve` instance carries, with and without cluster mode, and
what the coordination itself costs. Cameras: GStreamer's RTSP server serving vtest.avi (10 fps);
for each count N (1, 2, …) the daemon runs N cameras, and after a warm-up `/metrics` is read twice
WINDOW seconds apart: a count is carried when under 1 % of captured frames were dropped and the
p99 capture-to-output latency is under 100 ms. In cluster mode the same instance runs with a
one-member etcd and a one-node JetStream (every camera's events in the log), and the CPU time of
its coordination threads ("cluster", "etcd", "jetstream") is measured against the process's.

  scripts/cluster_capacity.py [--max 6] [--window 30] [--out out/cluster_capacity.csv]

Needs the release build, the packages of scripts/bootstrap.sh (etcd-server, nats-server), and
prometheus-client (pip).
"""
import argparse, csv, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "prometheus-client"])
    from prometheus_client.parser import text_string_to_metric_families

from soaklib import free_port, root, rtsp

TICKS = os.sysconf("SC_CLK_TCK")


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    totals = {"captured": 0.0, "dropped": 0.0, "processed": 0.0}
    buckets = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "vigil_frames_captured_total":
                totals["captured"] += s.value
            elif s.name == "vigil_frames_dropped_total":
                totals["dropped"] += s.value
            elif s.name == "vigil_frames_processed_total":
                totals["processed"] += s.value
            elif s.name == "vigil_latency_seconds_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    return totals, buckets


def p99(before, after):
    """The 99th percentile of the window's latencies, from the histogram's buckets."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in les]
    total = counts[-1] if counts else 0
    if total <= 0:
        return float("nan")
    for le, c in zip(les, counts):
        if c >= 0.99 * total:
            return le * 1000.0
    return float("inf")


def cpu(pid, names=None):
    """CPU seconds of the process, or of its threads with these names."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if names is None or any(name.startswith(n) for n in names):
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def engines(work):
    etcd_port, peer, nats_port = free_port(), free_port(), free_port()
    etcd = subprocess.Popen(["etcd", "--name", "m0", "--data-dir", f"{work}/etcd",
                             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"m0=http://127.0.0.1:{peer}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(f"{work}/nats.conf", "w") as f:
        f.write(f'listen: 127.0.0.1:{nats_port}\njetstream {{ store_dir: "{work}/js" }}\n')
    nats = subprocess.Popen(["nats-server", "-c", f"{work}/nats.conf"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    section = (f'[cluster]\netcd = ["http://127.0.0.1:{etcd_port}"]\nsite = "cap"\ninstance = "solo"\n'
               f'capacity = 64\n[nats]\nservers = ["nats://127.0.0.1:{nats_port}"]\n')
    return [etcd, nats], section


def measure(n, rtsp_port, work, cluster_section, window):
    http_port = free_port()
    config = os.path.join(work, f"serve-{n}.toml")
    with open(config, "w") as f:
        f.write(cluster_section)
        f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n[record]\ndir = "{work}/rec"\n')
        for c in range(n):
            f.write(f'[cameras.cam{c}]\nurl = "rtsp://127.0.0.1:{rtsp_port}/cam"\n')
    log = open(os.path.join(work, f"serve-{n}.log"), "w")
    daemon = subprocess.Popen([os.path.join(root, "target/release/vigil"), "serve", "--config", config],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                t, _ = scrape(http_port)
                if t["processed"] > 20 * n:
                    break
            except OSError:
                pass
            time.sleep(1)
        time.sleep(5)
        t0, b0 = scrape(http_port)
        c0, k0 = cpu(daemon.pid), cpu(daemon.pid, ["cluster", "etcd", "jetstream"])
        time.sleep(window)
        t1, b1 = scrape(http_port)
        c1, k1 = cpu(daemon.pid), cpu(daemon.pid, ["cluster", "etcd", "jetstream"])
        captured = t1["captured"] - t0["captured"]
        dropped = t1["dropped"] - t0["dropped"]
        share = dropped / captured if captured else float("nan")
        return {"cameras": n, "fps": (t1["processed"] - t0["processed"]) / window,
                "dropped_pct": 100 * share, "p99_ms": p99(b0, b1),
                "cpu_s": c1 - c0, "coordination_cpu_s": k1 - k0}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        # The next count starts afresh: the site's cameras live in etcd in cluster mode.


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min", type=int, default=1, help="the first camera count to try")
    ap.add_argument("--max", type=int, default=6)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--modes", default="plain,cluster", help="which runs: plain, cluster or both")
    ap.add_argument("--out", default=os.path.join(root, "out", "cluster_capacity.csv"))
    args = ap.parse_args()
    rtsp_port = free_port()
    server = rtsp(rtsp_port)
    rows = []
    try:
        for mode in args.modes.split(","):
            for n in range(args.min, args.max + 1):
                work = tempfile.mkdtemp(prefix=f"vigil-cap-{mode}-{n}-")
                procs, section = engines(work) if mode == "cluster" else ([], "")
                try:
                    r = measure(n, rtsp_port, work, section, args.window)
                finally:
                    for p in procs:
                        p.kill()
                        p.wait()
                    shutil.rmtree(work, ignore_errors=True)
                r["mode"] = mode
                r["carried"] = r["dropped_pct"] < 1.0 and r["p99_ms"] <= 100.0  # buckets: "≤ le"
                rows.append(r)
                print(f"{mode:7} {n} cameras: {r['fps']:.1f} fps out, {r['dropped_pct']:.2f} % dropped, "
                      f"p99 ≤ {r['p99_ms']:.0f} ms, CPU {r['cpu_s'] / args.window * 100:.0f} % of a core"
                      + (f", coordination {r['coordination_cpu_s'] / max(r['cpu_s'], 1e-9) * 100:.2f} % of it"
                         if mode == "cluster" else "")
                      + ("" if r["carried"] else "  (not carried)"), flush=True)
                if not r["carried"]:
                    break
    finally:
        server.kill()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for mode in ["plain", "cluster"]:
        carried = [r["cameras"] for r in rows if r["mode"] == mode and r["carried"]]
        print(f"{mode}: carries {max(carried) if carried else 0} cameras at 10 fps")


if __name__ == "__main__":
    main()
