//! What the benchmarks share: the MOT17-04 val half's detections.

use std::path::PathBuf;

use vigil::frame::Detection;
use vigil::geom::Affine;
use vigil::motchallenge::{parse_camera_motion, parse_detections, SeqInfo};

/// MOT17-04's val half (frames N/2+2..N, ≈45 detections a frame) with ByteTrack's YOLOX-X
/// detections, and its frame rate. Needs the shared data ($VIGIL_SHARED or ../shared).
pub fn val_half() -> (Vec<Vec<Detection>>, f64) {
    let seq = sequence();
    let info = SeqInfo::load(&seq).expect("MOT17-04 seqinfo");
    let text =
        std::fs::read_to_string(seq.join("det/yolox_x_ablation.txt")).expect("MOT17-04 detections");
    let all = parse_detections(&text, info.length).expect("parse detections");
    let first = (info.length / 2 + 1) as usize; // 0-based index of frame N/2+2
    (all.into_iter().skip(first).collect(), info.frame_rate)
}

fn sequence() -> PathBuf {
    let shared = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    shared.join("mot/MOT17/MOT17-04")
}

/// The camera's motion into each frame of the val half (BoT-SORT's maps; the first is the
/// identity).
#[allow(dead_code)] // not every benchmark uses it
pub fn camera_motion() -> Vec<Affine> {
    let seq = sequence();
    let info = SeqInfo::load(&seq).expect("MOT17-04 seqinfo");
    let text = std::fs::read_to_string(seq.join("gmc/botsort.txt")).expect("MOT17-04 gmc");
    let all = parse_camera_motion(&text, info.length).expect("parse camera motion");
    let first = (info.length / 2 + 1) as usize;
    std::iter::once(Affine::IDENTITY)
        .chain(all.into_iter().skip(first + 1))
        .collect()
}
