#!/usr/bin/env bash
# Takes a screenshot of the daemon's status page in headless Chromium (Debian's `chromium`,
# installed here if missing): one camera reading vtest.avi at its own rate, page at /.
#   scripts/screenshot_status.sh [OUT.png]      (default out/status.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-$root/out/status.png}
shared=${VIGIL_SHARED:-$root/../shared}
if ! command -v chromium >/dev/null; then
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
[cameras.plaza.source]
realtime = true
[cameras.street]
url = "$shared/videos/car-detection.mp4"
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
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/chrome" --window-size=1280,900 --virtual-time-budget=4000 \
  --screenshot="$out" "http://127.0.0.1:$port/" 2>/dev/null
echo "screenshot: $out"
