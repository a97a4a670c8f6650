//! What the benchmarks share: the MOT17-04 val half's detections.

use std::path::PathBuf;

use vigil::frame::Detection;
use vigil::motchallenge::{parse_detections, SeqInfo};

/// MOT17-04's val half (frames N/2+2..N, ≈45 detections a frame) with ByteTrack's YOLOX-X
/// detections, and its frame rate. Needs the shared data ($VIGIL_SHARED or ../shared).
pub fn val_half() -> (Vec<Vec<Detection>>, f64) {
    let shared = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let seq = shared.join("mot/MOT17/MOT17-04");
    let info = SeqInfo::load(&seq).expect("MOT17-04 seqinfo");
    let text =
        std::fs::read_to_string(seq.join("det/yolox_x_ablation.txt")).expect("MOT17-04 detections");
    let all = parse_detections(&text, info.length).expect("parse detections");
    let first = (info.length / 2 + 1) as usize; // 0-based index of frame N/2+2
    (all.into_iter().skip(first).collect(), info.frame_rate)
}
