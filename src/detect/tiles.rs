//! Tiled inference for small objects: a detector that sees a 1080p frame shrunk to 416 px sees
//! a distant person a dozen pixels tall. Overlapping tiles of the full-resolution frame, each
//! shrunk far less, plus the whole frame (for objects larger than a tile), are detected
//! separately; the boxes are mapped back and merged by NMS, each kept box fused with those it
//! suppresses (`nms::merge_regions`).
//!
//! Pure: the plan of regions and the rule for boxes cut by a tile's edge.

use std::str::FromStr;

use serde::Deserialize;

use crate::frame::Detection;
use crate::geom::BBox;

/// Neighbouring tiles share this fraction of a tile, so an object cut by one tile's edge is
/// whole in the next.
const OVERLAP: f64 = 0.2;
/// A box this close (px) to an edge a tile shares with a neighbour, or to the frame's edge, is
/// taken as cut by it (detectors stop a few pixels short of the edge of what they see).
pub(super) const CUT_MARGIN_PX: f32 = 3.0;
/// `auto` gives each tile about this many model inputs across: enough magnification for small
/// objects without detecting the frame many times over.
const AUTO_TILE_IN_INPUTS: f64 = 2.0;
/// `auto` never detects a frame more than 1 + 2×2 times, whatever its size.
const MOST_TILES_PER_SIDE: usize = 2;

/// How a frame is split (`[detector] tiles`, `--tiles`): `off`, `auto`, or `RxC` (rows × columns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Tiles {
    #[default]
    Off,
    Auto,
    Grid {
        rows: usize,
        cols: usize,
    },
}

impl FromStr for Tiles {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not off, auto or RxC tiles (e.g. 2x2, at most 8x8)");
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "1x1" => Ok(Tiles::Off),
            "auto" => Ok(Tiles::Auto),
            grid => {
                let (r, c) = grid.split_once('x').ok_or_else(bad)?;
                let (rows, cols) = (r.parse().map_err(|_| bad())?, c.parse().map_err(|_| bad())?);
                if !(1..=8).contains(&rows) || !(1..=8).contains(&cols) {
                    return Err(bad());
                }
                Ok(Tiles::Grid { rows, cols })
            }
        }
    }
}

impl TryFrom<String> for Tiles {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// A part of the frame detected on its own, in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Tiles {
    /// The regions to detect in a `width`×`height` frame for a model input of
    /// `input_w`×`input_h`: the whole frame first, then the tiles, if any. A grid finer than
    /// the frame (tiles smaller than one pixel of overlap) is an error.
    pub fn regions(
        self,
        (width, height): (usize, usize),
        (input_w, input_h): (usize, usize),
    ) -> Result<Vec<Region>, String> {
        let whole = Region {
            x: 0,
            y: 0,
            width,
            height,
        };
        let (rows, cols) = match self {
            Tiles::Off => (1, 1),
            Tiles::Grid { rows, cols } => (rows, cols),
            Tiles::Auto => {
                let per_side = |frame: usize, input: usize| {
                    ((frame as f64 / (AUTO_TILE_IN_INPUTS * input as f64)).round() as usize)
                        .clamp(1, MOST_TILES_PER_SIDE)
                };
                (per_side(height, input_h), per_side(width, input_w))
            }
        };
        if rows == 1 && cols == 1 {
            return Ok(vec![whole]);
        }
        let xs = spans(width, cols);
        let ys = spans(height, rows);
        let (Some(xs), Some(ys)) = (xs, ys) else {
            return Err(format!(
                "{rows}x{cols} tiles do not fit a {width}x{height} frame"
            ));
        };
        let mut regions = vec![whole];
        for &(y, h) in &ys {
            for &(x, w) in &xs {
                regions.push(Region {
                    x,
                    y,
                    width: w,
                    height: h,
                });
            }
        }
        Ok(regions)
    }
}

/// `count` overlapping spans `(start, length)` covering `0..total`; `None` when they would be
/// under 32 px.
fn spans(total: usize, count: usize) -> Option<Vec<(usize, usize)>> {
    if count == 1 {
        return Some(vec![(0, total)]);
    }
    let length = (total as f64 / (count as f64 - (count as f64 - 1.0) * OVERLAP)).ceil() as usize;
    if length < 32 || length > total {
        return None;
    }
    let step = (total - length) as f64 / (count - 1) as f64;
    Some(
        (0..count)
            .map(|i| ((i as f64 * step).round() as usize, length))
            .collect(),
    )
}

impl Region {
    /// False for a box of a tile that touches an edge the tile shares with a neighbour: the
    /// object goes on past it, and the neighbour (or the whole frame) sees it whole.
    pub fn keeps(&self, d: &Detection, (width, height): (usize, usize)) -> bool {
        let BBox { x1, y1, x2, y2 } = d.bbox;
        let (left, top) = (self.x as f32, self.y as f32);
        let (right, bottom) = ((self.x + self.width) as f32, (self.y + self.height) as f32);
        let cut = |inner: bool, distance: f32| inner && distance <= CUT_MARGIN_PX;
        !(cut(self.x > 0, x1 - left)
            || cut(self.y > 0, y1 - top)
            || cut(self.x + self.width < width, right - x2)
            || cut(self.y + self.height < height, bottom - y2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!("auto".parse(), Ok(Tiles::Auto));
        assert_eq!("OFF".parse(), Ok(Tiles::Off));
        assert_eq!("2x3".parse(), Ok(Tiles::Grid { rows: 2, cols: 3 }));
        for bad in ["0x2", "9x1", "2x", "two", "2*2"] {
            let e = bad.parse::<Tiles>().unwrap_err();
            assert!(e.contains(bad) && e.contains("RxC"), "{e}");
        }
    }

    #[test]
    fn a_grid_covers_the_frame_with_overlapping_tiles_after_the_whole() {
        let r = Tiles::Grid { rows: 2, cols: 2 }
            .regions((1920, 1080), (416, 416))
            .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!((r[0].width, r[0].height), (1920, 1080));
        // 1920 / 1.8 = 1066.7 → 1067 wide, at 0 and 853; 1080 / 1.8 = 600 tall, at 0 and 480.
        assert_eq!((r[1].x, r[1].y, r[1].width, r[1].height), (0, 0, 1067, 600));
        assert_eq!((r[4].x, r[4].y), (853, 480));
        assert_eq!(r[4].x + r[4].width, 1920);
        assert_eq!(r[4].y + r[4].height, 1080);
        let overlap = r[1].x + r[1].width - r[2].x;
        assert!(overlap as f64 >= 0.2 * 1067.0 - 1.0, "{overlap}");
    }

    #[test]
    fn auto_tiles_large_frames_only() {
        let auto = |w, h, input| Tiles::Auto.regions((w, h), (input, input)).unwrap().len();
        assert_eq!(auto(768, 576, 416), 1, "vtest.avi is left whole");
        assert_eq!(auto(1920, 1080, 416), 3, "1 row of 2");
        assert_eq!(auto(1920, 1080, 640), 1 + 2);
        assert_eq!(auto(3840, 2160, 416), 1 + 2 * 2);
    }

    #[test]
    fn tiles_larger_than_the_frame_allows_are_refused() {
        let e = Tiles::Grid { rows: 8, cols: 8 }
            .regions((160, 120), (416, 416))
            .unwrap_err();
        assert!(e.contains("8x8") && e.contains("160x120"), "{e}");
    }

    #[test]
    fn boxes_cut_by_a_shared_edge_are_left_to_the_neighbour() {
        let tile = Region {
            x: 100,
            y: 0,
            width: 200,
            height: 100,
        };
        let frame = (400, 100);
        let at = |x1, y1, x2, y2| Detection {
            bbox: BBox::new(x1, y1, x2, y2),
            score: 0.9,
            class_id: 0,
        };
        assert!(
            tile.keeps(&at(150.0, 0.0, 200.0, 100.0), frame),
            "frame edges are real"
        );
        assert!(
            !tile.keeps(&at(101.0, 10.0, 150.0, 50.0), frame),
            "left edge is shared"
        );
        assert!(
            !tile.keeps(&at(150.0, 10.0, 299.0, 50.0), frame),
            "right edge is shared"
        );
        assert!(tile.keeps(&at(110.0, 10.0, 290.0, 50.0), frame));
    }
}
