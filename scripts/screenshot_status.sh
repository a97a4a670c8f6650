#!/usr/bin/env bash
# Takes a screenshot of the daemon's status page in headless Chromium (Debian's `chromium`,
# installed here if missing): one camera reading vtest.avi at its own rate, page at /.
#   scripts/screenshot_status.sh [OUT.png]      (default out/status.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-$root/out/status.png}
shared=${VIGIL_SHARED:-$root/../shared}
if ! command -v chromium >/dev/null; then  # Debian's chromium
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo build --release --quiet
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/serve.toml" <<TOML
[http]
listen = "127.0.0.1:$port"
[record]
dir = "$work/rec"
[cameras.plaza]
url = "$shared/videos/vtest.avi"
preview = true
[cameras.plaza.source]
realtime = true
[cameras.street]
url = "$shared/videos/car-detection.mp4"
preview = true
[cameras.street.source]
realtime = true
[cameras.backyard]
url = "rtsp://admin:secret@127.0.0.1:9/cam"
TOML
./target/release/vigil serve --config "$work/serve.toml" 2>"$work/stderr.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
sleep 6   # let the previews and counters fill
mkdir -p "$(dirname "$out")"
# Playwright drives Debian's chromium (no browser download): the page is captured while its MJPEG
# previews stream, which chromium's own --screenshot cannot do (it waits for the page to finish
# loading, and a live stream never does).
python3 -c 'import playwright' 2>/dev/null || python3 -m pip install -q playwright
python3 - "http://127.0.0.1:$port/" "$out" <<'PY'
import sys
from playwright.sync_api import sync_playwright
url, out = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_timeout(4000)   # previews stream, counters refresh
    page.screenshot(path=out)
    browser.close()
PY
echo "screenshot: $out"
