//! Where a track stands when its legs are hidden. A detector boxes what it sees: a person behind
//! a bench or another walker gets a shorter box whose bottom is at the knees, and the foot point
//! (the bottom of the box) jumps up by a third of the body while the head stays put. A counting
//! line across the ground then sees the person step back and forth over it. Occlusion in a
//! camera looking down on a scene hides the bottom of an object far more often than the top, so
//! the foot is taken as the box's top plus the height the track has recently stood at: the
//! largest height seen, forgotten with a time constant of `RECENT_HEIGHT_S` so that an object
//! that really shrinks (walking away from the camera) is followed within a few seconds. Pure.

use super::TrackMap;
use crate::geom::BBox;

/// How quickly a height the track no longer shows is forgotten (e-folding time). Chosen on
/// the first half of the MOT17 sequences (tests/analytics_cli.rs reports the val half): 1 s
/// still let through much of the knee-high jitter; 4 s counted about as well, and 2 s follows
/// an object that really shrinks sooner (docs/PREDICTION.md).
const RECENT_HEIGHT_S: f64 = 2.0;
/// A box whose top is this close to the picture's top edge (or above it) is cut by the frame:
/// its top is not the object's, and its bottom is the better foot (a car driving out of the
/// top of the picture shrinks from the top, not the bottom).
const TOP_EDGE_PX: f32 = 3.0;

#[derive(Clone, Copy, Debug)]
struct Standing {
    height: f64,
    pts_ms: f64,
}

/// Each track's recent standing height.
#[derive(Debug, Default)]
pub struct Footing {
    standing: TrackMap<Standing>,
}

impl Footing {
    /// How far below the bottom of `bbox` track `id`'s feet are at `pts_ms`: zero when the box
    /// is as tall as the track has lately been.
    pub fn hidden_below(&mut self, id: u64, bbox: &BBox, pts_ms: f64) -> f64 {
        let height = bbox.height() as f64;
        if bbox.y1 <= TOP_EDGE_PX {
            self.standing.insert(id, Standing { height, pts_ms });
            return 0.0;
        }
        let s = self
            .standing
            .entry(id)
            .or_insert(Standing { height, pts_ms });
        let elapsed_s = ((pts_ms - s.pts_ms) / 1000.0).max(0.0);
        let recent = height + (s.height - height) * (-elapsed_s / RECENT_HEIGHT_S).exp();
        s.height = recent.max(height);
        s.pts_ms = pts_ms;
        s.height - height
    }

    /// Forgets an ended track.
    pub fn forget(&mut self, id: u64) {
        self.standing.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(top: f32, height: f32) -> BBox {
        BBox::new(100.0, top, 140.0, top + height)
    }

    #[test]
    fn hidden_legs_leave_the_feet_where_they_were() {
        let mut f = Footing::default();
        assert_eq!(f.hidden_below(1, &person(50.0, 120.0), 0.0), 0.0);
        // Legs hidden for a fifth of a second: the box is 40 px shorter, the feet barely move.
        let hidden = f.hidden_below(1, &person(50.0, 80.0), 200.0);
        assert!(hidden > 0.9 * 40.0 && hidden < 40.0, "{hidden}");
        // The whole person again: nothing hidden.
        assert_eq!(f.hidden_below(1, &person(52.0, 121.0), 233.0), 0.0);
    }

    #[test]
    fn an_object_that_really_shrinks_is_followed_within_seconds() {
        let mut f = Footing::default();
        f.hidden_below(1, &person(50.0, 120.0), 0.0);
        // Walking away: 80 px tall from now on.
        let after = |s: f64, f: &mut Footing| f.hidden_below(1, &person(50.0, 80.0), s * 1000.0);
        assert!(after(1.0, &mut f) > 20.0);
        let mut last = 0.0;
        for k in 2..=30 {
            last = after(k as f64 * 0.2 + 1.0, &mut f);
        }
        assert!(last < 40.0 * (-3.0_f64).exp(), "{last}");
    }

    #[test]
    fn an_object_leaving_by_the_top_of_the_picture_keeps_its_bottom() {
        let mut f = Footing::default();
        f.hidden_below(1, &person(20.0, 200.0), 0.0);
        // The top now at the frame's edge: the box shrinks because the frame cuts it.
        assert_eq!(f.hidden_below(1, &person(0.0, 150.0), 100.0), 0.0);
        assert_eq!(f.hidden_below(1, &person(-1.0, 90.0), 200.0), 0.0);
    }

    #[test]
    fn tracks_are_apart_and_forgotten() {
        let mut f = Footing::default();
        f.hidden_below(1, &person(0.0, 200.0), 0.0);
        assert_eq!(f.hidden_below(2, &person(0.0, 50.0), 0.0), 0.0);
        f.forget(1);
        assert_eq!(f.hidden_below(1, &person(0.0, 50.0), 100.0), 0.0);
    }
}
