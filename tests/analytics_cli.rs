//! Counting lines and zones as a user runs them: `vigil track SEQ --detections … --config
//! lines.toml --json OUT`, checked against the same lines counted on the ground-truth
//! trajectories; and the config errors of `[analytics]`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{run, run_ok, scratch, shared, stderr, val_half};
use vigil::analytics::Analyzer;
use vigil::config::Config;
use vigil::frame::Track;
use vigil::geom::BBox;
use vigil::geom::Segment;
use vigil::labels::Labels;
use vigil::scene::Direction;

/// One line across each scene, where the ground-truth people cross most (a line nobody
/// crosses tests nothing): `(sequence, name, points)`.
const LINES: [(&str, &str, [[f64; 2]; 2]); 4] = [
    ("MOT17-02", "square", [[1152.0, 0.0], [1152.0, 1080.0]]),
    ("MOT17-04", "street", [[480.0, 0.0], [480.0, 1080.0]]),
    ("MOT17-05", "walkway", [[128.0, 0.0], [128.0, 480.0]]),
    ("MOT17-09", "shop", [[1536.0, 0.0], [1536.0, 1080.0]]),
];

fn lines_toml(lines: &[(&str, [[f64; 2]; 2])]) -> String {
    lines
        .iter()
        .map(|(name, [a, b])| {
            format!(
                "[[analytics.lines]]\nname = \"{name}\"\npoints = [[{}, {}], [{}, {}]]\n",
                a[0], a[1], b[0], b[1]
            )
        })
        .collect()
}

type Counts = BTreeMap<(String, &'static str), u64>;

/// Crossings per (line, direction) in a JSON Lines file.
fn json_counts(path: &Path) -> Counts {
    let mut counts = Counts::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let frame: serde_json::Value = serde_json::from_str(line).unwrap();
        for e in frame["events"].as_array().into_iter().flatten() {
            if e["type"] == "line_cross" {
                let direction = if e["direction"] == "in" { "in" } else { "out" };
                *counts
                    .entry((e["line"].as_str().unwrap().to_string(), direction))
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// Crossings per (line, direction) of the ground-truth trajectories (pedestrians that count,
/// as the MOTChallenge rules say), through the same analytics.
fn gt_counts(seq: &Path, config: &Config) -> Counts {
    let labels = Labels::parse("person").unwrap();
    let mut analyzer = Analyzer::new(&config.analytics, &labels, 1.0, "analytics").unwrap();
    let fps = seqinfo(seq, "frameRate");
    let mut counts = Counts::new();
    for (n, tracks) in gt_frames(seq) {
        let (_, scene) = analyzer.update(n as f64 * 1000.0 / fps, &tracks);
        for e in scene.events {
            if let vigil::scene::SceneEventKind::LineCross(d) = e.kind {
                let direction = if d == Direction::In { "in" } else { "out" };
                *counts.entry((e.place.to_string(), direction)).or_default() += 1;
            }
        }
    }
    counts
}

/// The gt rows that count (class 1, consider = 1), as `[frame, id, x, y, w, h, …, visibility]`.
fn gt_rows(seq: &Path) -> Vec<Vec<f32>> {
    std::fs::read_to_string(seq.join("gt/gt.txt"))
        .unwrap()
        .lines()
        .map(|line| {
            line.split(',')
                .map(|x| x.trim().parse().unwrap())
                .collect::<Vec<f32>>()
        })
        .filter(|v| v[6] == 1.0 && v[7] == 1.0)
        .collect()
}

/// The gt trajectories as tracks, for every frame from 1 to the last with gt.
fn gt_frames(seq: &Path) -> Vec<(u64, Vec<Track>)> {
    let mut frames: BTreeMap<u64, Vec<Track>> = BTreeMap::new();
    for v in gt_rows(seq) {
        frames.entry(v[0] as u64).or_default().push(Track {
            id: v[1] as u64,
            class_id: 0,
            score: 1.0,
            bbox: BBox::new(v[2], v[3], v[2] + v[4], v[3] + v[5]),
            velocity: [0.0, 0.0],
            predicted: Vec::new(),
        });
    }
    let last = frames.keys().last().copied().unwrap_or(0);
    (1..=last)
        .map(|n| (n, frames.remove(&n).unwrap_or_default()))
        .collect()
}

/// A number from the sequence's `seqinfo.ini`.
fn seqinfo(seq: &Path, key: &str) -> f64 {
    let ini = std::fs::read_to_string(seq.join("seqinfo.ini")).unwrap();
    ini.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Counting lines laid out the same way on every scene, not placed where the counts happen
/// to agree: across each scene at a quarter, half and three quarters of its width (people
/// walking sideways) and of its height (people walking towards or away from the camera).
fn quarter_lines(seq: &Path) -> Vec<(String, [[f64; 2]; 2])> {
    let (w, h) = (seqinfo(seq, "imWidth"), seqinfo(seq, "imHeight"));
    let mut lines = Vec::new();
    for q in 1..=3 {
        let f = q as f64 / 4.0;
        lines.push((format!("across{q}"), [[w * f, 0.0], [w * f, h]]));
        lines.push((format!("along{q}"), [[0.0, h * f], [w, h * f]]));
    }
    lines
}

#[test]
fn line_counts_from_tracks_match_counts_from_ground_truth() {
    let dir = scratch("analytics-mot17");
    let seqs = ["MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09"];
    let val = val_half(&dir, &seqs, u64::MAX);
    let mut report = Vec::new();
    // (gt, tracks) crossings of the lines across the scenes, and of those along them.
    let (mut across, mut along) = ((0, 0), (0, 0));
    for seq in seqs {
        let lines = quarter_lines(&val.join(seq));
        let named: Vec<(&str, [[f64; 2]; 2])> =
            lines.iter().map(|(n, p)| (n.as_str(), *p)).collect();
        let config_path = dir.join(format!("{seq}.toml"));
        let toml = lines_toml(&named);
        std::fs::write(&config_path, &toml).unwrap();
        let json = dir.join(format!("{seq}.jsonl"));
        let out = run_ok(&[
            "track",
            val.join(seq).to_str().unwrap(),
            "--detections",
            "det/det.txt",
            "--mot",
            dir.join(format!("{seq}.txt")).to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--config",
            config_path.to_str().unwrap(),
        ]);
        let tracked = json_counts(&json);
        // The totals printed at the end are the events written.
        let printed = String::from_utf8_lossy(&out.stdout);
        for ((line, direction), n) in &tracked {
            let expected = format!("line {line} {direction} person: {n}");
            assert!(printed.contains(&expected), "{expected} in:\n{printed}");
        }
        let truth = gt_counts(&val.join(seq), &Config::parse(&toml).unwrap());
        let total = |c: &Counts, prefix: &str| {
            c.iter()
                .filter(|((line, _), _)| line.starts_with(prefix))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        for (sums, prefix) in [(&mut across, "across"), (&mut along, "along")] {
            sums.0 += total(&truth, prefix);
            sums.1 += total(&tracked, prefix);
        }
        report.push(format!("{seq}: gt {truth:?}\n  tracks {tracked:?}"));
    }
    let error = |(gt, ours): (u64, u64)| 100.0 * (ours as f64 - gt as f64).abs() / gt as f64;
    let all = (across.0 + along.0, across.1 + along.1);
    for (name, sums) in [("across", across), ("along", along), ("all", all)] {
        report.push(format!(
            "{name}: gt {}, tracks {}: error {:.1} %",
            sums.0,
            sums.1,
            error(sums)
        ));
    }
    let report = report.join("\n");
    println!("{report}");
    assert!(all.0 >= 100, "too few crossings to measure:\n{report}");
    assert!(error(all) <= 10.0, "{report}");
}

/// `car-detection.mp4` filmed from above, a line across the road at half height. By eye, four
/// cars cross it: two drive up and out of the top of the picture ("out"), two come down
/// ("in"). The cars leaving by the top shrink as the frame cuts them, which once held their
/// foot point below the line; one car coming down is first detected already on the line
/// (YOLOX-Nano sees cars from above late, as "cell phone"), so it cannot be counted.
#[test]
fn a_line_across_the_road_counts_the_cars_seen_crossing_it() {
    let dir = scratch("analytics-cars");
    let config = dir.join("road.toml");
    std::fs::write(
        &config,
        lines_toml(&[("road", [[0.0, 216.0], [768.0, 216.0]])]),
    )
    .unwrap();
    let json = dir.join("cars.jsonl");
    run_ok(&[
        "track",
        shared().join("videos/car-detection.mp4").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let counts = json_counts(&json);
    let of = |direction| counts.get(&("road".to_string(), direction)).copied();
    assert_eq!(of("out"), Some(2), "{counts:?}");
    // The late car is counted on a CPU whose float32 sums show it a frame earlier, and not on
    // one that does not: between the one seen whole and the two that come down, never more.
    assert!(matches!(of("in"), Some(1 | 2)), "{counts:?}");
}

#[test]
fn bad_analytics_config_is_one_line_naming_the_key() {
    let dir = scratch("analytics-bad-config");
    let val = val_half(&dir, &["MOT17-09"], 5);
    let cases = [
        (
            "[[analytics.lines]]\nname = \"gate\"\npoints = [[10, 10], [10, 10]]\n",
            "analytics.lines[0].points",
        ),
        (
            "[[analytics.zones]]\nname = \"yard\"\npoints = [[0, 0], [100, 100], [100, 0], [0, 100]]\n",
            "analytics.zones[0].points",
        ),
        (
            "[[analytics.zones]]\nname = \"yard\"\npoints = [[0, 0], [100, 100]]\n",
            "analytics.zones[0].points",
        ),
        (
            "[analytics.homography]\nimage = [[0, 0], [1, 1], [2, 2], [3, 0]]\nworld = [[0, 0], [1, 0], [1, 1], [0, 1]]\n",
            "analytics.homography",
        ),
        (
            "[[analytics.lines]]\nname = \"gate\"\npoints = [[0, 10], [100, 10]]\nclasses = [\"unicorn\"]\n",
            "analytics.lines[0].classes",
        ),
    ];
    for (k, (toml, key)) in cases.iter().enumerate() {
        let config = dir.join(format!("bad{k}.toml"));
        std::fs::write(&config, toml).unwrap();
        let o = run(&[
            "track",
            val.join("MOT17-09").to_str().unwrap(),
            "--detections",
            "det/det.txt",
            "--mot",
            dir.join("out.txt").to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{toml}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "{key} named in: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Where the look-ahead says a track will cross a line, 1 s before it does: on the gt
/// trajectories of the val half, with the same lines, the median absolute error of the
/// predicted crossing time (reported in docs/PREDICTION.md).
#[test]
fn time_to_cross_predicted_one_second_ahead_on_ground_truth() {
    use vigil::predict::{predictions, DefaultLookAhead, LookAhead};
    let dir = scratch("analytics-ttc");
    let seqs: Vec<&str> = LINES.iter().map(|(s, _, _)| *s).collect();
    let val = val_half(&dir, &seqs, u64::MAX);
    let horizons = vigil::track::TrackerConfig::default().horizons_s;
    let (mut errors, mut crossings) = (Vec::new(), 0);
    for (seq, name, points) in LINES {
        let config = Config::parse(&lines_toml(&[(name, points)])).unwrap();
        let fps = seqinfo(&val.join(seq), "frameRate");
        let mut analyzer = Analyzer::new(
            &config.analytics,
            &Labels::parse("person").unwrap(),
            1.0,
            "a",
        )
        .unwrap();
        let mut models: BTreeMap<u64, DefaultLookAhead> = BTreeMap::new();
        // Forecast crossing times (absolute, s) per (frame, id), and the true crossings.
        let mut forecast: BTreeMap<(u64, u64), f64> = BTreeMap::new();
        let mut truth = Vec::new();
        // Each track's signed distance to the line per frame, to time the true crossing.
        let line = Segment::new(points[0], points[1]);
        let mut sides: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        for (n, mut tracks) in gt_frames(&val.join(seq)) {
            let now = n as f64 / fps;
            for t in &mut tracks {
                let foot = [t.bbox.center().0 as f64, t.bbox.y2 as f64];
                sides
                    .entry(t.id)
                    .or_default()
                    .push((now, line.signed_distance(foot)));
                let model = models.entry(t.id).or_default();
                model.observe(now, &t.bbox);
                t.predicted = predictions(model, now, &horizons, None);
            }
            let (_, scene) = analyzer.update(now * 1000.0, &tracks);
            for i in &scene.insights {
                if let Some(c) = i.crossings.first() {
                    forecast.insert((n, i.id), now + c.in_s);
                }
            }
            // The counter reports a crossing once the foot is clearly past the line; the
            // crossing itself is where the foot's path met the line, just before.
            truth.extend(
                scene
                    .events
                    .iter()
                    .filter_map(|e| crossed_at(&sides[&e.id]).map(|at| (e.id, at))),
            );
        }
        for (id, at) in truth {
            crossings += 1;
            let asked = ((at - 1.0) * fps).round().max(0.0) as u64;
            if let Some(predicted) = forecast.get(&(asked, id)) {
                errors.push((predicted - at).abs());
            }
        }
    }
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    println!(
        "time to cross, predicted 1 s ahead on gt: {} of {crossings} crossings foreseen, median absolute error {median:.3} s, mean {:.3} s",
        errors.len(),
        errors.iter().sum::<f64>() / errors.len() as f64
    );
    // Guards against regressions of what was measured (26 of 57 foreseen, median 0.22 s): a
    // crossing is foreseen only when the forecast path reaches the line within its horizons.
    assert!(
        errors.len() as f64 >= 0.4 * crossings as f64,
        "foreseen: {}",
        errors.len()
    );
    assert!(median < 0.3, "median error {median} s");
}

/// The time the latest sign change of `(time, signed distance)` happened, interpolated.
fn crossed_at(path: &[(f64, f64)]) -> Option<f64> {
    path.windows(2).rev().find_map(|w| {
        let ((t0, d0), (t1, d1)) = (w[0], w[1]);
        (d0.signum() != d1.signum() && d0 != d1).then(|| t0 + (t1 - t0) * d0 / (d0 - d1))
    })
}
