//! Which kind of detector a model is, read from its graph: the input and output shapes, their
//! names, and the metadata Ultralytics exports carry (`names`, `imgsz`, `end2end`). Each family
//! brings its own preprocessing and decoder; `[detector] family` overrides the guess.
//!
//! Pure: it sees a description of the graph, not the ONNX Runtime session, so every rule is
//! tested without a model file.

use serde::Deserialize;

use super::outputs::{BoxesScoresLabels, Head, Port, UltralyticsHead};
use super::yolox::YoloxLayout;
use crate::preprocess::InputSpec;

/// The layouts vigil decodes.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Megvii YOLOX: `[1, cells, 5 + classes]` on a stride 8/16/32 grid, raw offsets; BGR 0–255.
    Yolox,
    /// Ultralytics YOLOv5: `[1, 3 × cells, 5 + classes]`, decoded boxes with objectness; RGB/255.
    Yolov5,
    /// Ultralytics YOLOv8 / YOLO11: `[1, 4 + classes, cells]`, decoded boxes, no objectness.
    Yolov8,
    /// NMS-free end-to-end outputs (YOLOv10, Ultralytics `end2end`): `[1, N, 6]` rows of
    /// `x1, y1, x2, y2, score, class` in input pixels.
    EndToEnd,
    /// Separate `boxes` `[1, N, 4]` (x1, y1, x2, y2; input pixels or 0–1), `scores` `[1, N]` and
    /// `labels` `[1, N]` outputs (SSD, Faster R-CNN style exports), already suppressed.
    BoxesScoresLabels,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Yolox,
        Family::Yolov5,
        Family::Yolov8,
        Family::EndToEnd,
        Family::BoxesScoresLabels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Yolox => "yolox",
            Family::Yolov5 => "yolov5",
            Family::Yolov8 => "yolov8",
            Family::EndToEnd => "end_to_end",
            Family::BoxesScoresLabels => "boxes_scores_labels",
        }
    }

    /// How the family's models were trained to see an image.
    pub fn input_spec(self, width: usize, height: usize) -> InputSpec {
        let yolox = self == Family::Yolox;
        InputSpec {
            width,
            height,
            rgb: !yolox,
            scale: if yolox { 1.0 } else { 1.0 / 255.0 },
            centered: !yolox,
            pad_value: 114,
        }
    }
}

/// What a model shows of itself.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Custom metadata (`names`, `imgsz`, `end2end`, … in Ultralytics exports).
    pub metadata: Vec<(String, String)>,
}

/// The input size when the graph leaves it dynamic and carries no `imgsz`.
const DEFAULT_INPUT_SIZE: usize = 640;

/// A model understood: its input name and layout, and the decoder of its outputs.
#[derive(Clone, Debug)]
pub struct Identified {
    pub family: Family,
    pub input_name: String,
    pub spec: InputSpec,
    pub head: Head,
    /// Class names the model carries (Ultralytics `names`), in class-id order.
    pub class_names: Option<Vec<String>>,
    /// Whether the graph takes any number of images at once (its input's batch and every
    /// output's leading dimension are free), so that frames can be stacked into one run.
    pub free_batch: bool,
}

impl Graph {
    fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn is_ultralytics(&self) -> bool {
        self.meta("names").is_some()
            || self
                .meta("author")
                .is_some_and(|a| a.contains("Ultralytics"))
    }

    /// The inputs and outputs in one line, for errors.
    pub fn describe(&self) -> String {
        let list = |ports: &[Port]| {
            ports
                .iter()
                .map(|p| format!("{} {:?}", p.name, p.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "inputs: {}; outputs: {}",
            list(&self.inputs),
            list(&self.outputs)
        )
    }

    /// The image input and its size: one input of shape `[1 or dynamic, 3, H, W]`.
    fn image_input(&self) -> Result<(String, usize, usize), String> {
        let [input] = self.inputs.as_slice() else {
            return Err(format!(
                "has {} inputs; vigil feeds one image tensor [1, 3, H, W]",
                self.inputs.len()
            ));
        };
        let (h, w) = match input.shape.as_slice() {
            [b, 3, h, w] if *b == 1 || *b < 0 => (*h, *w),
            _ => {
                return Err(format!(
                    "input '{}' has shape {:?}; vigil feeds an image tensor [1, 3, H, W]",
                    input.name, input.shape
                ))
            }
        };
        let (default_h, default_w) = self.metadata_input_size();
        let size = |v: i64, default: usize| if v > 0 { v as usize } else { default };
        Ok((input.name.clone(), size(w, default_w), size(h, default_h)))
    }

    /// Whether the input's batch is free and every output carries it as its leading dimension.
    fn batch_is_free(&self) -> bool {
        let free = |p: &Port| p.shape.first().is_some_and(|&b| b < 0);
        self.inputs.first().is_some_and(free) && self.outputs.iter().all(free)
    }

    /// The graph as vigil runs it, one image at a time: where the input's batch is free (a
    /// leading -1, as in `vigil bench --batch` copies), the outputs' leading -1 is that batch: 1.
    fn one_image_at_a_time(&self) -> Graph {
        let free_batch = self
            .inputs
            .first()
            .is_some_and(|i| i.shape.first().is_some_and(|&b| b < 0));
        let mut graph = self.clone();
        if free_batch {
            for port in graph.inputs.iter_mut().chain(graph.outputs.iter_mut()) {
                if let Some(b) = port.shape.first_mut().filter(|b| **b < 0) {
                    *b = 1;
                }
            }
        }
        graph
    }

    /// `imgsz` of an Ultralytics export (`[640, 640]`, height first), else the default.
    fn metadata_input_size(&self) -> (usize, usize) {
        let parsed = self.meta("imgsz").and_then(|s| {
            let numbers: Vec<usize> = s
                .trim_matches(['[', ']', '(', ')'])
                .split(',')
                .map(|n| n.trim().parse().ok())
                .collect::<Option<_>>()?;
            match numbers.as_slice() {
                [h, w] if *h > 0 && *w > 0 => Some((*h, *w)),
                [s] if *s > 0 => Some((*s, *s)),
                _ => None,
            }
        });
        parsed.unwrap_or((DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE))
    }
}

/// Reads the family from the graph, or checks the one the config names against it.
pub fn identify(graph: &Graph, forced: Option<Family>) -> Result<Identified, String> {
    let free_batch = graph.batch_is_free();
    let graph = &graph.one_image_at_a_time();
    let (input_name, width, height) = graph
        .image_input()
        .map_err(|e| format!("{e} ({})", graph.describe()))?;
    let family = match forced {
        Some(f) => f,
        None => guess(graph, width, height).ok_or_else(|| {
            format!(
                "its outputs fit no known detector layout ({}); set [detector] family to one of {}",
                graph.describe(),
                Family::ALL.map(Family::name).join(", ")
            )
        })?,
    };
    let head = head_for(family, graph, width, height).map_err(|e| {
        format!(
            "{e} ({}); [detector] family = \"{}\" {}",
            graph.describe(),
            family.name(),
            if forced.is_some() {
                "was given"
            } else {
                "was guessed"
            }
        )
    })?;
    let class_names = graph.meta("names").and_then(parse_class_names);
    Ok(Identified {
        family,
        input_name,
        spec: family.input_spec(width, height),
        head,
        class_names,
        free_batch,
    })
}

/// Grid cells of a stride-8/16/32 head for an input size: what YOLOX and YOLOv8 predict per
/// image (YOLOv5 predicts three anchors per cell).
fn grid_cells(width: usize, height: usize) -> usize {
    [8, 16, 32].iter().map(|s| (width / s) * (height / s)).sum()
}

fn guess(graph: &Graph, width: usize, height: usize) -> Option<Family> {
    if graph.outputs.len() >= 3 && BoxesScoresLabels::find(&graph.outputs).is_ok() {
        return Some(Family::BoxesScoresLabels);
    }
    let [only] = graph.outputs.as_slice() else {
        return None;
    };
    let [1, a, b] = only.shape.as_slice() else {
        return None;
    };
    let (a, b) = (*a, *b);
    let cells = grid_cells(width, height) as i64;
    let end_to_end = graph.meta("end2end").is_some_and(|v| v == "True");
    match () {
        _ if b == 6 && (end_to_end || a != cells) => Some(Family::EndToEnd),
        _ if b > 5 && a == 3 * cells => Some(Family::Yolov5),
        _ if a > 4 && b == cells && a < b => Some(Family::Yolov8),
        _ if b > 5 && a == cells && !graph.is_ultralytics() => Some(Family::Yolox),
        _ => None,
    }
}

fn head_for(family: Family, graph: &Graph, width: usize, height: usize) -> Result<Head, String> {
    let single = || match graph.outputs.as_slice() {
        [only] => Ok(only.shape.as_slice()),
        outputs => Err(format!(
            "a {} model has one output, this one has {}",
            family.name(),
            outputs.len()
        )),
    };
    Ok(match family {
        Family::Yolox => {
            Head::Yolox(YoloxLayout::new(width, height, single()?).map_err(|e| e.to_string())?)
        }
        Family::Yolov5 => Head::Ultralytics(UltralyticsHead::yolov5(single()?)?),
        Family::Yolov8 => Head::Ultralytics(UltralyticsHead::yolov8(single()?)?),
        Family::EndToEnd => Head::Ultralytics(UltralyticsHead::end_to_end(single()?)?),
        Family::BoxesScoresLabels => {
            Head::BoxesScoresLabels(BoxesScoresLabels::find(&graph.outputs)?)
        }
    })
}

/// Class names from an Ultralytics `names` entry, a Python dict literal:
/// `{0: 'person', 1: 'bicycle', …}`. `None` unless the ids run 0, 1, 2, … in order.
pub fn parse_class_names(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (id, after) = rest.split_once(':')?;
        if id.trim().parse::<usize>().ok()? != names.len() {
            return None;
        }
        let (name, after) = quoted(after.trim_start())?;
        names.push(name);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    (!names.is_empty()).then_some(names)
}

/// A Python string literal at the start of `text` (single or double quotes, backslash escapes),
/// and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut value = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            c if c == quote => return Some((value, &text[1 + i + 1..])),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, shape: &[i64]) -> Port {
        Port {
            name: name.into(),
            shape: shape.to_vec(),
        }
    }

    fn graph(input: &[i64], outputs: &[(&str, &[i64])], metadata: &[(&str, &str)]) -> Graph {
        Graph {
            inputs: vec![port("images", input)],
            outputs: outputs.iter().map(|(n, s)| port(n, s)).collect(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn family_of(g: &Graph) -> Result<Family, String> {
        identify(g, None).map(|m| m.family)
    }

    #[test]
    fn a_free_batch_is_read_as_one_image() {
        let yolox = graph(&[-1, 3, 416, 416], &[("output", &[-1, 3549, 85])], &[]);
        assert_eq!(family_of(&yolox), Ok(Family::Yolox));
        let v8 = graph(&[-1, 3, 640, 640], &[("output0", &[-1, 84, 8400])], &[]);
        assert_eq!(family_of(&v8), Ok(Family::Yolov8));
    }

    #[test]
    fn the_shared_models_are_recognised() {
        let yolox = graph(&[1, 3, 416, 416], &[("output", &[1, 3549, 85])], &[]);
        assert_eq!(family_of(&yolox), Ok(Family::Yolox));
        let v8 = graph(
            &[1, 3, 640, 640],
            &[("output0", &[1, 84, 8400])],
            &[
                ("names", "{0: 'person', 1: 'bicycle'}"),
                ("end2end", "False"),
            ],
        );
        let m = identify(&v8, None).unwrap();
        assert_eq!(m.family, Family::Yolov8);
        assert!(m.spec.rgb && m.spec.centered && (m.spec.scale - 1.0 / 255.0).abs() < 1e-9);
        assert_eq!(
            m.class_names,
            Some(vec!["person".to_string(), "bicycle".to_string()])
        );
    }

    #[test]
    fn ultralytics_layouts_at_any_input_size() {
        let v5 = graph(&[1, 3, 320, 320], &[("output0", &[1, 6300, 85])], &[]);
        assert_eq!(family_of(&v5), Ok(Family::Yolov5));
        let v8 = graph(&[1, 3, 480, 640], &[("output0", &[1, 6, 6300])], &[]);
        assert_eq!(family_of(&v8), Ok(Family::Yolov8));
        let e2e = graph(&[1, 3, 640, 640], &[("output0", &[1, 300, 6])], &[]);
        assert_eq!(family_of(&e2e), Ok(Family::EndToEnd));
        // A dynamic input takes its size from `imgsz`.
        let dynamic = graph(
            &[-1, 3, -1, -1],
            &[("output0", &[1, 84, 2100])],
            &[("imgsz", "[320, 320]"), ("names", "{0: 'a'}")],
        );
        let m = identify(&dynamic, None).unwrap();
        assert_eq!(
            (m.family, m.spec.width, m.spec.height),
            (Family::Yolov8, 320, 320)
        );
    }

    #[test]
    fn separate_boxes_scores_and_labels() {
        let g = graph(
            &[1, 3, 300, 300],
            &[
                ("boxes", &[1, 100, 4]),
                ("scores", &[1, 100]),
                ("labels", &[1, 100]),
            ],
            &[],
        );
        assert_eq!(family_of(&g), Ok(Family::BoxesScoresLabels));
    }

    #[test]
    fn unknown_layouts_name_the_ports_and_the_key() {
        let odd = graph(&[1, 3, 416, 416], &[("out", &[1, 7, 7])], &[]);
        let e = family_of(&odd).unwrap_err();
        assert!(
            e.contains("out [1, 7, 7]") && e.contains("[detector] family"),
            "{e}"
        );
        let two_inputs = Graph {
            inputs: vec![port("a", &[1, 3, 64, 64]), port("b", &[1, 3, 64, 64])],
            ..odd.clone()
        };
        assert!(family_of(&two_inputs).unwrap_err().contains("2 inputs"));
        let gray = graph(&[1, 1, 64, 64], &[("out", &[1, 84, 84])], &[]);
        assert!(family_of(&gray).unwrap_err().contains("[1, 1, 64, 64]"));
        // A family forced on a graph it does not fit says so.
        let v8 = graph(&[1, 3, 640, 640], &[("output0", &[1, 84, 8400])], &[]);
        let e = identify(&v8, Some(Family::Yolox)).unwrap_err();
        assert!(e.contains("family = \"yolox\" was given"), "{e}");
    }

    #[test]
    fn class_names_parse_from_python_dict_literals() {
        assert_eq!(
            parse_class_names(r#"{0: 'person', 1: "traffic light", 2: 'it\'s'}"#),
            Some(vec![
                "person".to_string(),
                "traffic light".to_string(),
                "it's".to_string()
            ])
        );
        assert_eq!(parse_class_names("{1: 'a'}"), None);
        assert_eq!(parse_class_names("{0: 'a', 0: 'b'}"), None);
        assert_eq!(parse_class_names("[person]"), None);
        assert_eq!(parse_class_names("{0: 'unterminated}"), None);
    }
}
