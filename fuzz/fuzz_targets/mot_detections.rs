//! A MOTChallenge det.txt for a sequence of up to 300 frames, parsed and then tracked: the
//! parser must refuse what it cannot take with an error, and the tracker must survive whatever
//! boxes the parser lets through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil::motchallenge::parse_detections;
use vigil::offline::track_frames;
use vigil::track::TrackerConfig;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let length = u64::from(first) + 45; // 45..=300 frames
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(frames) = parse_detections(text, length) {
        assert!(frames.len() as u64 <= length);
        let tracks = track_frames(&frames, (length, 30.0), None, &TrackerConfig::default());
        assert_eq!(tracks.len() as u64, length);
        for frame in &tracks {
            for t in frame {
                assert!(t.bbox.x1.is_finite() && t.bbox.y2.is_finite(), "{t:?}");
            }
        }
    }
});
