//! A camera-motion file (BoT-SORT's GMC format), then the tracker moved by it: whatever the file
//! says, it is refused with a message or every map is usable and the tracker's boxes stay finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::frame::Detection;
use vigil::geom::BBox;
use vigil::motchallenge::parse_camera_motion;
use vigil::offline::track_frames;
use vigil::track::TrackerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let length = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let Ok(maps) = parse_camera_motion(text, length) else {
        return;
    };
    assert!(maps.iter().all(|m| m.is_usable()));
    let person = Detection {
        bbox: BBox::from_tlwh(100.0, 100.0, 40.0, 100.0),
        score: 0.9,
        class_id: 0,
    };
    let frames = vec![vec![person]; maps.len()];
    let config = TrackerConfig::default();
    for tracks in track_frames(&frames, (length, 30.0), Some(&maps), &config) {
        for t in tracks {
            let b = t.bbox;
            assert!(
                [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()),
                "{t:?}"
            );
        }
    }
});
