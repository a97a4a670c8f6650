//! People cut by the frame's edge, boxed whole. A detector boxes what it sees: a person whose
//! feet are below the picture gets a box that stops at the picture's bottom, and the box's foot
//! point (where counting lines and ground speeds look) is off by half a body. MOTChallenge's
//! annotations box the whole person, past the edge, as a tracker needs. A standing person's box
//! has a known shape: pedestrian benchmarks standardise it to a width of 0.41 × the height
//! (Caltech Pedestrians, Dollár et al., 2012). So a person's box that touches the top or bottom
//! edge and is shorter than that shape says is extended past that edge to it, and one that
//! touches the left or right edge and is narrower, sideways. Pure, no I/O.

use super::tiles::CUT_MARGIN_PX as EDGE_PX;
use crate::frame::Detection;

/// Width over height of a standing person's box (Caltech Pedestrians' standard).
pub const PERSON_ASPECT: f32 = 0.41;

/// Completes the boxes of class `person` that the frame's edges cut, in a `width`×`height`
/// frame.
pub fn complete_cut_people(
    detections: &mut [Detection],
    (width, height): (usize, usize),
    person: usize,
) {
    let (width, height) = (width as f32, height as f32);
    for d in detections.iter_mut().filter(|d| d.class_id == person) {
        let b = &mut d.bbox;
        let whole_height = b.width() / PERSON_ASPECT;
        if b.height() < whole_height {
            if b.y2 >= height - EDGE_PX {
                b.y2 = b.y1 + whole_height;
            } else if b.y1 <= EDGE_PX {
                b.y1 = b.y2 - whole_height;
            }
        }
        let whole_width = b.height() * PERSON_ASPECT;
        if b.width() < whole_width {
            if b.x1 <= EDGE_PX {
                b.x1 = b.x2 - whole_width;
            } else if b.x2 >= width - EDGE_PX {
                b.x2 = b.x1 + whole_width;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::BBox;

    fn person(x1: f32, y1: f32, x2: f32, y2: f32) -> Detection {
        Detection {
            bbox: BBox::new(x1, y1, x2, y2),
            score: 0.9,
            class_id: 0,
        }
    }

    fn completed(d: Detection) -> BBox {
        let mut v = [d];
        complete_cut_people(&mut v, (640, 480), 0);
        v[0].bbox
    }

    #[test]
    fn a_person_cut_by_the_bottom_edge_gets_their_feet_back() {
        // 41 px wide, 60 px visible down to the bottom: whole, 100 px tall.
        let b = completed(person(100.0, 420.0, 141.0, 480.0));
        assert_eq!((b.y1, b.x1, b.x2), (420.0, 100.0, 141.0));
        assert!((b.y2 - 520.0).abs() < 1e-3, "{b:?}");
        // Detectors stop a pixel or two short of the edge: that still touches it.
        let short = completed(person(100.0, 418.0, 141.0, 478.0));
        assert!((short.y2 - 518.0).abs() < 1e-3, "{short:?}");
    }

    #[test]
    fn the_other_edges_extend_outwards() {
        let top = completed(person(100.0, 0.0, 141.0, 40.0));
        assert!((top.y1 + 60.0).abs() < 1e-3 && top.y2 == 40.0, "{top:?}");
        let left = completed(person(0.0, 100.0, 20.0, 200.0));
        assert!((left.x1 + 21.0).abs() < 1e-3 && left.x2 == 20.0, "{left:?}");
        let right = completed(person(630.0, 100.0, 640.0, 200.0));
        assert!(
            (right.x2 - 671.0).abs() < 1e-3 && right.x1 == 630.0,
            "{right:?}"
        );
    }

    #[test]
    fn whole_people_inner_boxes_and_other_classes_are_left_alone() {
        // Touching the bottom, but already as tall as a person of that width.
        let tall = person(100.0, 300.0, 141.0, 480.0);
        assert_eq!(completed(tall), tall.bbox);
        // Squat, but away from every edge: a person sitting, not cut.
        let inner = person(100.0, 100.0, 200.0, 150.0);
        assert_eq!(completed(inner), inner.bbox);
        let mut car = [Detection {
            class_id: 2,
            ..person(100.0, 440.0, 200.0, 480.0)
        }];
        complete_cut_people(&mut car, (640, 480), 0);
        assert_eq!(car[0].bbox, BBox::new(100.0, 440.0, 200.0, 480.0));
    }
}
