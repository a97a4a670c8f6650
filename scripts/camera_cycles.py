#!/usr/bin/env python3
"""Adds and removes one camera through the REST API, CYCLES times, while another camera streams,
and follows the daemon's threads and resident memory: after every removal the thread count must
be back at its baseline (before the first add) and RSS within 15 % of the first cycle's.

  scripts/camera_cycles.py [--cycles 50] [--out out/camera_cycles.csv]

The camera that comes and goes reads GStreamer's RTSP server (vtest.avi); the steady one reads
vtest.avi at its own rate. Each cycle waits until the added camera streams and has processed
frames, then deletes it. Needs the release build and the packages of scripts/bootstrap.sh.
Exit status 1 when a cycle leaves threads behind or memory grows past the bound.
"""
import argparse, csv, json, os, signal, subprocess, sys, tempfile, time, urllib.request

from soaklib import free_port, root, rtsp


def call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def health(port):
    """/healthz, or no cameras while the daemon is not answering yet."""
    try:
        return json.loads(call(port, "GET", "/healthz")[1])
    except (OSError, ValueError):
        return {"cameras": {}}


def proc(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024.0


def wait(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"camera_cycles: timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(root, "out", "camera_cycles.csv"))
    args = ap.parse_args()
    shared = os.environ.get("VIGIL_SHARED", os.path.join(root, "..", "shared"))
    vtest = os.path.join(shared, "videos", "vtest.avi")
    rtsp_port, http_port = free_port(), free_port()
    server = rtsp(rtsp_port)
    work = tempfile.mkdtemp(prefix="vigil-cycles-")
    config = os.path.join(work, "serve.toml")
    with open(config, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n[record]\ndir = "{work}/rec"\n'
                f'[cameras.steady]\nurl = "{vtest}"\n[cameras.steady.source]\nrealtime = true\nspeed = 0.25\n')
    log = open(os.path.join(work, "stderr.log"), "w")
    daemon = subprocess.Popen([os.path.join(root, "target/release/vigil"), "serve", "--config", config],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait("the steady camera", lambda: health(http_port)["cameras"].get("steady", {}).get("state") == "streaming")
        time.sleep(2)
        base_threads, base_rss = proc(daemon.pid)
        camera = {"url": f"rtsp://127.0.0.1:{rtsp_port}/cam", "record": {"json": True, "video": True}}
        rows = []
        for cycle in range(1, args.cycles + 1):
            status, body = call(http_port, "PUT", "/api/cameras/cycle", camera)
            if status != 201:
                sys.exit(f"camera_cycles: PUT answered {status}: {body}")
            wait("the added camera", lambda: health(http_port)["cameras"].get("cycle", {}).get("frames_processed", 0) > 0
                 and health(http_port)["cameras"]["cycle"]["state"] == "streaming")
            live_threads, _ = proc(daemon.pid)
            status, body = call(http_port, "DELETE", "/api/cameras/cycle")
            if status != 204:
                sys.exit(f"camera_cycles: DELETE answered {status}: {body}")
            time.sleep(0.5)  # threads a removal leaves may take a moment to be reaped
            threads, rss = proc(daemon.pid)
            rows.append((cycle, live_threads, threads, round(rss, 1)))
            print(f"cycle {cycle:3}: {live_threads} threads while added, {threads} after removal "
                  f"(baseline {base_threads}), RSS {rss:.1f} MB", flush=True)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["cycle", "threads_added", "threads_after", "rss_mb"])
            w.writerows(rows)
        first_rss = rows[0][3]
        worst = max(r[3] for r in rows)
        leaked = [r[0] for r in rows if r[2] != base_threads]
        growth = (worst - first_rss) / first_rss
        print(f"baseline {base_threads} threads, {base_rss:.1f} MB; after each of {len(rows)} removals: "
              f"threads {min(r[2] for r in rows)}..{max(r[2] for r in rows)}; RSS first cycle {first_rss:.1f} MB, "
              f"largest {worst:.1f} MB ({growth * 100:+.1f} %), last {rows[-1][3]:.1f} MB")
        ok = not leaked and growth <= 0.15
        if leaked:
            print(f"threads not back at the baseline after cycles {leaked}")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        server.kill()


if __name__ == "__main__":
    sys.exit(main())
