//! Segments and polygons in image pixels (`f64` points): the shapes of counting lines, zones and
//! privacy masks, drawn by the sinks and watched by the analytics. Pure.

/// An image point `[x, y]` in pixels (or a ground point in metres).
pub type Point = [f64; 2];

/// Length of `[dx, dy]`. `f64::hypot` guards against overflow we cannot have with pixel
/// coordinates, and is several times slower: this runs for every track, line and zone per frame.
pub(crate) fn norm(dx: f64, dy: f64) -> f64 {
    (dx * dx + dy * dy).sqrt()
}

/// A segment `a` → `b` in image pixels, with its unit normal toward the "in" side (kept, since
/// distances to it are taken for every track on every frame).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub a: Point,
    pub b: Point,
    normal: Point,
}

impl Segment {
    /// `a` and `b` must differ (the config checks it).
    pub fn new(a: Point, b: Point) -> Self {
        let length = norm(b[0] - a[0], b[1] - a[1]).max(f64::MIN_POSITIVE);
        Self {
            a,
            b,
            normal: [-(b[1] - a[1]) / length, (b[0] - a[0]) / length],
        }
    }

    pub fn length(&self) -> f64 {
        norm(self.b[0] - self.a[0], self.b[1] - self.a[1])
    }

    /// Signed distance of `p` from the line through the segment: negative on the "out" side,
    /// positive on the "in" side.
    pub fn signed_distance(&self, p: Point) -> f64 {
        self.normal[0] * (p[0] - self.a[0]) + self.normal[1] * (p[1] - self.a[1])
    }

    /// Whether the path from `p0` to `p1`, at signed distances `d0` and `d1`, crosses the
    /// segment itself (not its extension).
    pub fn crossed_between(&self, (p0, d0): (Point, f64), (p1, d1): (Point, f64)) -> bool {
        if d0.signum() == d1.signum() || d0 == d1 {
            return false;
        }
        let s = d0 / (d0 - d1);
        let hit = [p0[0] + s * (p1[0] - p0[0]), p0[1] + s * (p1[1] - p0[1])];
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let u = ((hit[0] - self.a[0]) * dx + (hit[1] - self.a[1]) * dy) / (dx * dx + dy * dy);
        (0.0..=1.0).contains(&u)
    }

    /// Whether the path `p0` → `p1` crosses the segment itself (not its extension).
    pub fn crossed_by(&self, p0: Point, p1: Point) -> bool {
        self.crossed_between(
            (p0, self.signed_distance(p0)),
            (p1, self.signed_distance(p1)),
        )
    }
}

/// A simple polygon (at least three corners, edges that do not cross, an area).
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub corners: Vec<Point>,
}

impl Polygon {
    /// Checks the shape; the message says what is wrong with it.
    pub fn new(corners: Vec<Point>) -> Result<Self, String> {
        if corners.len() < 3 {
            return Err(format!(
                "a polygon needs at least 3 points, got {}",
                corners.len()
            ));
        }
        if corners.iter().flatten().any(|v| !v.is_finite()) {
            return Err("points must be finite numbers".into());
        }
        let polygon = Self { corners };
        if let Some((i, j)) = polygon.crossing_edges() {
            return Err(format!(
                "edges {} and {} cross: the points must go around the zone in order",
                i + 1,
                j + 1
            ));
        }
        if polygon.area() < 1e-9 {
            return Err("the points enclose no area (all on one line?)".into());
        }
        Ok(polygon)
    }

    fn edges(&self) -> impl Iterator<Item = Segment> + '_ {
        let n = self.corners.len();
        (0..n).map(move |i| Segment::new(self.corners[i], self.corners[(i + 1) % n]))
    }

    fn area(&self) -> f64 {
        self.edges()
            .map(|e| e.a[0] * e.b[1] - e.b[0] * e.a[1])
            .sum::<f64>()
            .abs()
            / 2.0
    }

    /// The first pair of non-adjacent edges that cross, if any.
    fn crossing_edges(&self) -> Option<(usize, usize)> {
        let edges: Vec<Segment> = self.edges().collect();
        let n = edges.len();
        for i in 0..n {
            for j in i + 2..n {
                if i == 0 && j == n - 1 {
                    continue; // they share the first corner
                }
                let (e, f) = (edges[i], edges[j]);
                if e.crossed_by(f.a, f.b) && f.crossed_by(e.a, e.b) {
                    return Some((i, j));
                }
            }
        }
        None
    }

    /// Even-odd rule.
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        for e in self.edges() {
            let (a, b) = (e.a, e.b);
            if (a[1] > p[1]) != (b[1] > p[1]) {
                let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                if p[0] < x {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Distance from `p` to the nearest point of the border.
    pub fn distance_to_border(&self, p: Point) -> f64 {
        self.edges()
            .map(|e| {
                let (dx, dy) = (e.b[0] - e.a[0], e.b[1] - e.a[1]);
                let u = (((p[0] - e.a[0]) * dx + (p[1] - e.a[1]) * dy) / (dx * dx + dy * dy))
                    .clamp(0.0, 1.0);
                norm(p[0] - e.a[0] - u * dx, p[1] - e.a[1] - u * dy)
            })
            .fold(f64::INFINITY, f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]]).unwrap()
    }

    #[test]
    fn the_side_follows_the_documented_sign() {
        let s = Segment::new([0.0, 0.0], [10.0, 0.0]);
        // (x2−x1)(y−y1) − (y2−y1)(x−x1) = 10·y: positive below the line (image y grows down).
        assert!(s.signed_distance([5.0, 3.0]) > 0.0);
        assert!(s.signed_distance([5.0, -3.0]) < 0.0);
    }

    #[test]
    fn shapes_are_checked() {
        assert!(Polygon::new(vec![[0.0, 0.0], [1.0, 1.0]])
            .unwrap_err()
            .contains("at least 3"));
        assert!(Polygon::new(vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
            .unwrap_err()
            .contains("no area"));
        // A bow tie: edges 1 and 3 cross.
        let bow = Polygon::new(vec![[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]]);
        assert!(bow.unwrap_err().contains("cross"), "bow tie");
        assert!(Polygon::new(vec![[0.0, 0.0], [f64::NAN, 1.0], [2.0, 0.0]]).is_err());
    }

    #[test]
    fn containment_and_border_distance() {
        let p = square();
        assert!(p.contains([50.0, 50.0]));
        assert!(!p.contains([150.0, 50.0]));
        assert!((p.distance_to_border([50.0, 10.0]) - 10.0).abs() < 1e-9);
        assert!((p.distance_to_border([103.0, 104.0]) - 5.0).abs() < 1e-9);
    }
}
