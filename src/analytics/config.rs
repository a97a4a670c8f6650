//! `[analytics]`: counting lines, zones and the ground plane, checked with messages that name
//! the key at fault.
//!
//! ```toml
//! [[analytics.lines]]
//! name = "gate"
//! points = [[100, 400], [700, 380]]
//! classes = ["car", "truck"]     # empty: every class
//! anchor = "bottom_center"       # or "center"
//!
//! [[analytics.zones]]
//! name = "crossing"
//! points = [[0, 0], [200, 0], [200, 100], [0, 100]]
//! loiter_s = 30                  # 0: no loitering events
//!
//! [analytics.homography]          # image pixels → metres on the ground, 4+ pairs
//! image = [[100, 400], [500, 400], [350, 100], [250, 100]]
//! world = [[0, 0], [10, 0], [10, 40], [0, 40]]
//! ```

use serde::Deserialize;

use super::homography::Homography;
use crate::geom::{Point, Polygon, Segment};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    pub lines: Vec<LineConfig>,
    pub zones: Vec<ZoneConfig>,
    pub homography: Option<HomographyConfig>,
}

/// Which point of a box stands for the object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Where a person or a car touches the ground.
    #[default]
    BottomCenter,
    Center,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    pub points: Vec<Point>,
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub anchor: Anchor,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    pub points: Vec<Point>,
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub anchor: Anchor,
    /// A `loiter` event when a track stays this many seconds; 0: none.
    #[serde(default)]
    pub loiter_s: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomographyConfig {
    /// Points in the image, pixels.
    pub image: Vec<Point>,
    /// The same points on the ground, metres.
    pub world: Vec<Point>,
}

impl LineConfig {
    pub fn segment(&self) -> Result<Segment, String> {
        let [a, b] = self.points[..] else {
            return Err(format!(
                "a line has exactly 2 points, got {}",
                self.points.len()
            ));
        };
        within_bounds(&[a, b])?;
        if a == b {
            return Err("the two points are the same: a line needs two different points".into());
        }
        Ok(Segment::new(a, b))
    }
}

impl ZoneConfig {
    pub fn polygon(&self) -> Result<Polygon, String> {
        within_bounds(&self.points)?;
        Polygon::new(self.points.clone())
    }
}

impl HomographyConfig {
    pub fn fit(&self) -> Result<Homography, String> {
        within_bounds(&self.image)?;
        within_bounds(&self.world)?;
        Homography::fit(&self.image, &self.world)
    }
}

/// The largest coordinate a shape may have, in pixels (or metres on the ground): far beyond
/// any picture, and small enough that squares and products of coordinates stay exact enough.
const MAX_COORDINATE: f64 = 1e6;

fn within_bounds(points: &[Point]) -> Result<(), String> {
    match points
        .iter()
        .flatten()
        .find(|v| v.is_nan() || v.abs() > MAX_COORDINATE) // NaN compares false with all
    {
        Some(v) => Err(format!(
            "{v:e} is not a coordinate: points must be finite numbers within ±{MAX_COORDINATE}"
        )),
        None => Ok(()),
    }
}

impl AnalyticsConfig {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.zones.is_empty() && self.homography.is_none()
    }

    /// Checks every shape; `prefix` is where this section sits (`analytics`,
    /// `cameras.gate.analytics`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        for (i, line) in self.lines.iter().enumerate() {
            let key = format!("{prefix}.lines[{i}]");
            check_name(&key, &line.name, self.lines[..i].iter().map(|l| &l.name))?;
            line.segment()
                .map_err(|e| format!("{key}.points (line '{}'): {e}", line.name))?;
        }
        for (i, zone) in self.zones.iter().enumerate() {
            let key = format!("{prefix}.zones[{i}]");
            check_name(&key, &zone.name, self.zones[..i].iter().map(|z| &z.name))?;
            zone.polygon()
                .map_err(|e| format!("{key}.points (zone '{}'): {e}", zone.name))?;
            if !(zone.loiter_s.is_finite() && zone.loiter_s >= 0.0) {
                return Err(format!(
                    "{key}.loiter_s = {} must be 0 (off) or a positive number of seconds",
                    zone.loiter_s
                ));
            }
        }
        if let Some(h) = &self.homography {
            h.fit().map_err(|e| format!("{prefix}.homography: {e}"))?;
        }
        Ok(())
    }
}

fn check_name<'a>(
    key: &str,
    name: &str,
    earlier: impl IntoIterator<Item = &'a String>,
) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("{key}.name: is empty"));
    }
    if earlier.into_iter().any(|n| n == name) {
        return Err(format!("{key}.name: '{name}' is used twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str) -> Result<AnalyticsConfig, String> {
        let c: AnalyticsConfig = toml::from_str(toml_text).map_err(|e| e.message().to_string())?;
        c.validate("analytics")?;
        Ok(c)
    }

    #[test]
    fn a_full_section_parses() {
        let c = check(
            r#"
            [[lines]]
            name = "gate"
            points = [[0, 100], [200, 100]]
            classes = ["car"]
            anchor = "center"
            [[zones]]
            name = "yard"
            points = [[0, 0], [10, 0], [10, 10]]
            loiter_s = 5
            [homography]
            image = [[0, 0], [200, 0], [200, 200], [0, 200]]
            world = [[0, 0], [10, 0], [10, 10], [0, 10]]
            "#,
        )
        .unwrap();
        assert_eq!(c.lines[0].anchor, Anchor::Center);
        assert_eq!(c.zones[0].anchor, Anchor::BottomCenter);
        assert!(!c.is_empty());
    }

    #[test]
    fn bad_shapes_name_their_key() {
        let e = check("[[lines]]\nname = \"gate\"\npoints = [[5, 5], [5, 5]]\n").unwrap_err();
        assert!(
            e.starts_with("analytics.lines[0].points (line 'gate')"),
            "{e}"
        );
        assert!(e.contains("same"), "{e}");
        let e = check("[[zones]]\nname = \"z\"\npoints = [[0, 0], [1, 1]]\n").unwrap_err();
        assert!(e.starts_with("analytics.zones[0].points"), "{e}");
        let e =
            check("[[zones]]\nname = \"z\"\npoints = [[0,0],[10,10],[10,0],[0,10]]\n").unwrap_err();
        assert!(e.contains("cross"), "{e}");
        let e = check(
            "[homography]\nimage = [[0,0],[1,1],[2,2],[3,0]]\nworld = [[0,0],[1,0],[1,1],[0,1]]\n",
        )
        .unwrap_err();
        assert!(e.starts_with("analytics.homography: image points"), "{e}");
        let e = check("[[zones]]\nname = \"z\"\npoints = [[0,0],[10,0],[10,10]]\nloiter_s = -1\n")
            .unwrap_err();
        assert!(e.contains("analytics.zones[0].loiter_s"), "{e}");
        let e = check("[[lines]]\nname = \"a\"\npoints = [[0,0],[1,0]]\n[[lines]]\nname = \"a\"\npoints = [[0,0],[1,0]]\n")
            .unwrap_err();
        assert!(
            e.contains("analytics.lines[1].name: 'a' is used twice"),
            "{e}"
        );
        assert!(
            check("[[lines]]\nname = \"a\"\npoints = [[0,0],[1,0]]\nanchor = \"feet\"\n").is_err()
        );
        // Past ±1e6 a line's squared length, or a homography's products, lose all precision.
        let e = check("[[lines]]\nname = \"far\"\npoints = [[1300, -1e154], [1300, 1e154]]\n")
            .unwrap_err();
        assert!(
            e.starts_with("analytics.lines[0].points (line 'far')") && e.contains("±1000000"),
            "{e}"
        );
        let e = check(
            "[homography]\nimage = [[0,0],[9,0],[9,9],[0,9]]\nworld = [[0,0],[1e300,0],[1,1],[0,1]]\n",
        )
        .unwrap_err();
        assert!(e.starts_with("analytics.homography: 1e300"), "{e}");
    }
}
