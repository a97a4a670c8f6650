#!/usr/bin/env bash
# Sets up what vigil needs on a fresh Debian/Ubuntu machine; idempotent and quiet when all is
# present. Each step is printed with the time it took.
#   scripts/bootstrap.sh [--test] [--gpu]
#   - apt packages to build and run vigil: OpenCV (headers + libs), clang for the opencv crate's
#     bindings, FFmpeg's headers (libavformat/codec/util/swscale-dev, pkg-config);
#     with --test (scripts/test.sh) also what only the tests use: ffmpeg/ffprobe, GStreamer's
#     RTSP server (python3-gi + plugins), mosquitto, python3-venv, /usr/bin/time
#   - the ONNX Runtime 1.31.1 shared library, from the `onnxruntime` PyPI wheel, into .deps/;
#     with --gpu also its GPU build (the `onnxruntime-gpu` wheel: CUDA and TensorRT providers)
#     into .deps/onnxruntime-gpu/, which vigil then prefers (it needs CUDA 12 and cuDNN 9)
#   - the default model, labels and sample video into models/ and .deps/data/, from
#     $VIGIL_SHARED or ../shared, else from their upstream URLs, checked against MANIFEST sums.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'bootstrap: %s\n' "$*" >&2; }
# step WHAT COMMAND...: runs COMMAND, then says how long WHAT took.
step() {
  local what=$1 start=$SECONDS; shift
  "$@"
  say "$what: $((SECONDS - start)) s"
}

ORT_VERSION=1.31.1
ORT_LIB=libonnxruntime.so.$ORT_VERSION
shared=${VIGIL_SHARED:-$root/../shared}
gpu=false
test=false
for arg in "$@"; do
  case $arg in
    --gpu) gpu=true ;;
    --test) test=true ;;
    *) say "unknown option $arg (usage: scripts/bootstrap.sh [--test] [--gpu])"; exit 2 ;;
  esac
done

# --- system packages ---------------------------------------------------------------------------
need_apt=() need_test_apt=()
want() { for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg"); done; }
want_for_tests() { for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need_test_apt+=("$pkg"); done; }
# Building vigil: OpenCV, clang for the opencv crate's bindings, FFmpeg's headers for vigil's own
# file decoder and video encoder (src/source/decoder.c, src/sink/encoder.c).
want libopencv-dev clang libclang-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
  pkg-config protobuf-compiler # protoc: the etcd client's gRPC types are generated at build time
if $test; then
  # Only the tests: ffmpeg/ffprobe make and check clips; a real RTSP server
  # (../shared/tools/rtsp_server.py) and a real MQTT broker for the live tests; headless Chromium; venvs for the
  # scripts that build test models; /usr/bin/time for the memory test.
  want_for_tests ffmpeg python3-venv python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav mosquitto \
    mosquitto-clients time etcd-server etcd-client nats-server chromium
  # (etcd and NATS: the cluster mode's engines; chromium plays the annotated MP4 as a browser
  # does, tests/track_cli.rs)
fi
# apt_install [--no-install-recommends] PACKAGE...
apt_install() {
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
# What vigil is built with needs none of its packages' recommendations (documentation, GUI
# helpers): without them the demo's set-up downloads far less. The tests' servers keep theirs
# (GStreamer's plugins rely on them).
if ((${#need_apt[@]})); then
  say "installing ${need_apt[*]}"
  step "apt packages" apt_install --no-install-recommends "${need_apt[@]}"
fi
if ((${#need_test_apt[@]})); then
  say "installing for the tests: ${need_test_apt[*]}"
  step "apt packages for the tests" apt_install "${need_test_apt[@]}"
fi

# --- ONNX Runtime ------------------------------------------------------------------------------
# fetch_ort PACKAGE DEST LIB...: the libraries LIB... of a PyPI wheel of ONNX Runtime, into DEST.
fetch_ort() {
  local package=$1 dest=$2; shift 2
  say "fetching ONNX Runtime $ORT_VERSION ($package wheel from PyPI)"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 --implementation cp "$package==$ORT_VERSION" -d "$tmp"
  mkdir -p "$dest"
  python3 - "$tmp" "$dest" "$@" <<'PY'
import pathlib, sys, zipfile
src, dst, names = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
whl = next(src.glob("*.whl"))
with zipfile.ZipFile(whl) as z:
    for name in names:
        (dst / name).write_bytes(z.read(f"onnxruntime/capi/{name}"))
PY
  rm -rf "$tmp"
}
[[ -f .deps/onnxruntime/$ORT_LIB ]] || step "ONNX Runtime" fetch_ort onnxruntime .deps/onnxruntime "$ORT_LIB"
if $gpu && [[ ! -f .deps/onnxruntime-gpu/$ORT_LIB ]]; then
  step "ONNX Runtime (GPU)" fetch_ort onnxruntime-gpu .deps/onnxruntime-gpu "$ORT_LIB" \
    libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so \
    libonnxruntime_providers_tensorrt.so
fi

# --- models and sample data --------------------------------------------------------------------
# fetch REL DEST URL: copy $shared/REL, else download URL; verify against the manifest when known.
fetch() {
  local rel=$1 dest=$2 url=$3
  [[ -f $dest ]] && return 0
  mkdir -p "$(dirname "$dest")"
  if [[ -f $shared/$rel ]]; then
    cp "$shared/$rel" "$dest.part"
  else
    say "downloading $url"
    curl -fsSL --retry 3 -o "$dest.part" "$url"
  fi
  local want=""
  [[ -f $shared/MANIFEST.sha256 ]] && want=$(awk -v f="$rel" '$2 == f {print $1}' "$shared/MANIFEST.sha256")
  [[ -z $want ]] && want=$(awk -v f="$rel" '$2 == f {print $1}' "$root/scripts/MANIFEST.sha256")
  if [[ -n $want ]] && [[ $(sha256sum "$dest.part" | cut -d' ' -f1) != "$want" ]]; then
    rm -f "$dest.part"; say "checksum mismatch for $rel"; exit 1
  fi
  mv "$dest.part" "$dest"
}
fetch models/yolox_nano.onnx models/yolox_nano.onnx \
  https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx
fetch videos/vtest.avi .deps/data/vtest.avi \
  https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi
