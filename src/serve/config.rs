//! The daemon's configuration, in the style of Frigate's: global sections are the defaults,
//! each `[cameras.NAME]` section is merged over them, and `[detector]` (the shared detector
//! pool) stays apart from the cameras. Every message names the key at fault.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::assemble::{CameraSpec, OutputsSpec, PreviewSpec};
use crate::cluster::{ClusterConfig, NatsConfig};
use toml::{Table, Value};

use super::http::HttpConfig;
use crate::analytics::AnalyticsConfig;
use crate::config::{parse_toml, Config, OutputConfig};
use crate::error::Result;
use crate::motion::GateConfig;
use crate::pipeline::Schedule;
use crate::privacy::PrivacyConfig;
use crate::sink::{MqttConfig, RecordConfig};
use crate::source::StreamOptions;
use crate::track::TrackerConfig;

/// The whole file: global defaults, the services, and the cameras.
pub struct ServeConfig {
    /// `[detector]`, `[tracker]`, `[output]`, `[source]`: the pool and the cameras' defaults.
    pub defaults: Config,
    pub http: HttpConfig,
    /// Absent: no MQTT output.
    pub mqtt: Option<MqttConfig>,
    /// Cluster mode: the site's cameras shared with other instances through etcd.
    pub cluster: Option<ClusterConfig>,
    /// The durable event log (cluster mode).
    pub nats: Option<NatsConfig>,
    pub cameras: Vec<CameraConfig>,
    /// The file's sections as written: what a camera given through the API is merged over.
    sections: FileSections,
}

/// One camera, with the global defaults already merged in. No `Debug`: the URL may hold a
/// password.
#[derive(Clone)]
pub struct CameraConfig {
    pub name: String,
    pub url: String,
    pub enabled: bool,
    /// Class names this camera reports; empty = every class.
    pub classes: Vec<String>,
    /// Minimum detection score for this camera.
    pub conf: f32,
    /// Which frames the detector sees: `detect_every` (default `[detector] detect_every`) and
    /// `motion_gate` (`[detector.motion_gate]` merged with the camera's own).
    pub schedule: Schedule,
    /// The live MJPEG preview and snapshot endpoint.
    pub preview: bool,
    /// Publish this camera's events and tracks over MQTT (when `[mqtt]` is configured).
    pub mqtt: bool,
    pub source: StreamOptions,
    pub tracker: TrackerConfig,
    pub record: RecordConfig,
    pub output: OutputConfig,
    pub analytics: AnalyticsConfig,
    pub privacy: PrivacyConfig,
}

/// The top level: which sections exist. Unknown sections are rejected by name.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSections {
    #[serde(default)]
    detector: Table,
    #[serde(default)]
    tracker: Table,
    #[serde(default)]
    output: Table,
    #[serde(default)]
    source: Table,
    #[serde(default)]
    record: Table,
    #[serde(default)]
    analytics: Table,
    #[serde(default)]
    privacy: Table,
    #[serde(default)]
    http: Table,
    mqtt: Option<Table>,
    cluster: Option<Table>,
    nats: Option<Table>,
    #[serde(default)]
    cameras: Table,
}

/// A camera section after merging: what serde checks, field by field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraSection {
    url: String,
    #[serde(default = "yes")]
    enabled: bool,
    classes: Option<Vec<String>>,
    conf: Option<f32>,
    detect_every: Option<u64>,
    motion_gate: GateConfig,
    /// Off unless asked for: by default nothing but tracks and events leaves the daemon.
    #[serde(default)]
    preview: bool,
    #[serde(default = "yes")]
    mqtt: bool,
    source: StreamOptions,
    tracker: TrackerConfig,
    record: RecordConfig,
    output: OutputConfig,
    analytics: AnalyticsConfig,
    privacy: PrivacyConfig,
}

fn yes() -> bool {
    true
}

/// Sections a camera may override, each merged key by key over the global one.
/// A camera's `analytics` keys (`lines`, `zones`, `homography`) replace the global ones whole.
/// A camera's `privacy` keys replace the global ones one by one (`masks` whole).
const CAMERA_SECTIONS: [&str; 6] = [
    "source",
    "tracker",
    "record",
    "output",
    "analytics",
    "privacy",
];

impl ServeConfig {
    /// The RTSP transport of every camera (validated to be one).
    pub fn transport(&self) -> crate::source::Transport {
        self.cameras
            .first()
            .map_or(self.defaults.source.transport, |c| c.source.transport)
    }

    pub fn load(path: &Path) -> Result<Self> {
        crate::config::load_file(path, Self::parse)
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let table: Table = parse_toml(text)?;
        let sections: FileSections = typed("", Value::Table(table))?;
        let globals = [
            ("detector", &sections.detector),
            ("tracker", &sections.tracker),
            ("output", &sections.output),
            ("source", &sections.source),
        ];
        let defaults: Config = typed(
            "",
            Value::Table(
                globals
                    .iter()
                    .map(|(k, t)| (k.to_string(), Value::Table((*t).clone())))
                    .collect(),
            ),
        )?;
        defaults.validate()?;
        let http: HttpConfig = typed("http.", Value::Table(sections.http.clone()))?;
        http.validate()?;
        let mqtt = match &sections.mqtt {
            Some(t) => {
                let m: MqttConfig = typed("mqtt.", Value::Table(t.clone()))?;
                m.validate()?;
                Some(m)
            }
            None => None,
        };
        let cluster = match &sections.cluster {
            Some(t) => {
                let c: ClusterConfig = typed("cluster.", Value::Table(t.clone()))?;
                c.validate()?;
                Some(c)
            }
            None => None,
        };
        let nats = match &sections.nats {
            Some(_) if cluster.is_none() => {
                return Err("nats: the event log is part of cluster mode: add [cluster]".into())
            }
            Some(t) => {
                let n: NatsConfig = typed("nats.", Value::Table(t.clone()))?;
                n.validate()?;
                Some(n)
            }
            None => None,
        };
        let mut cameras = Vec::new();
        for (name, section) in &sections.cameras {
            cameras.push(camera(name, section, &sections, &defaults)?);
        }
        if cameras.is_empty() && cluster.is_none() {
            return Err("no cameras: add a [cameras.NAME] section with a url".into());
        }
        let transport = cameras
            .first()
            .map_or(defaults.source.transport, |c| c.source.transport);
        if let Some(c) = cameras.iter().find(|c| c.source.transport != transport) {
            return Err(format!(
                "cameras.{}.source.transport: every camera must use the same RTSP transport (FFmpeg takes one per process); set it in [source]",
                c.name
            ));
        }
        Ok(Self {
            defaults,
            http,
            mqtt,
            cluster,
            nats,
            cameras,
            sections,
        })
    }

    /// The global sections every camera is merged over, as written: a change to any of them
    /// changes every camera.
    pub fn globals_fingerprint(&self) -> String {
        let f = &self.sections;
        format!(
            "{:?}",
            (
                &f.detector,
                &f.tracker,
                &f.output,
                &f.source,
                &f.record,
                &f.analytics,
                &f.privacy
            )
        )
    }

    /// Each camera of the file as the JSON of its section, as the site's registry keeps them.
    pub fn written_json(&self) -> Vec<(String, serde_json::Value)> {
        self.sections
            .cameras
            .iter()
            .filter_map(|(name, v)| Some((name.clone(), serde_json::to_value(v).ok()?)))
            .collect()
    }

    /// `[http]`, `[mqtt]`, `[cluster]` and `[nats]` as written: the process's services, which a
    /// reload cannot change.
    pub fn services_fingerprint(&self) -> String {
        let f = &self.sections;
        format!("{:?}", (&f.http, &f.mqtt, &f.cluster, &f.nats))
    }

    /// The section of camera `name` as the file wrote it (before merging), to tell at a reload
    /// which cameras the file changed.
    pub fn written(&self, name: &str) -> Option<&Value> {
        self.sections.cameras.get(name)
    }

    /// A camera given as the JSON of a `[cameras.NAME]` section (the REST API), merged over this
    /// file's global sections and checked as the file's cameras are; errors name the key as
    /// the file's do (`cameras.NAME.conf: …`).
    pub fn camera_from_json(
        &self,
        name: &str,
        section: &serde_json::Value,
    ) -> std::result::Result<CameraConfig, String> {
        let prefix = format!("cameras.{name}");
        if !section.is_object() {
            return Err(format!(
                "{prefix}: must be a JSON object of the camera's keys"
            ));
        }
        let section = Value::deserialize(section.clone()).map_err(|e| {
            format!("{prefix}: {e} (null has no TOML equivalent: leave the key out)")
        })?;
        let camera = camera(name, &section, &self.sections, &self.defaults)?;
        let transport = self.transport();
        if camera.source.transport != transport {
            return Err(format!(
                "{prefix}.source.transport: every camera must use the daemon's RTSP transport ({transport:?}): FFmpeg takes one per process"
            ));
        }
        Ok(camera)
    }
}

fn camera(
    name: &str,
    section: &Value,
    file: &FileSections,
    defaults: &Config,
) -> std::result::Result<CameraConfig, String> {
    let prefix = format!("cameras.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{prefix}: a camera name may only use letters, digits, '_' and '-' (it is used in URLs, topics and metrics)"
        ));
    }
    let Value::Table(own) = section else {
        return Err(format!("{prefix}: must be a table ([{prefix}])"));
    };
    let mut merged = own.clone();
    let global = |key: &str| match key {
        "source" => &file.source,
        "tracker" => &file.tracker,
        "record" => &file.record,
        "analytics" => &file.analytics,
        "privacy" => &file.privacy,
        _ => &file.output,
    };
    for key in CAMERA_SECTIONS {
        let mut base = global(key).clone();
        match own.get(key) {
            Some(Value::Table(over)) => base.extend(over.clone()),
            Some(_) => return Err(format!("{prefix}.{key}: must be a table")),
            None => {}
        }
        merged.insert(key.to_string(), Value::Table(base));
    }
    merged.insert(
        "motion_gate".into(),
        Value::Table(motion_gate(&prefix, own, file)?),
    );
    let c: CameraSection = typed(&format!("{prefix}."), Value::Table(merged))?;
    if c.url.trim().is_empty() {
        return Err(format!("{prefix}.url: is empty"));
    }
    let conf = c.conf.unwrap_or(defaults.detector.conf);
    if !(0.0..=1.0).contains(&conf) {
        return Err(format!("{prefix}.conf = {conf} must be within [0, 1]"));
    }
    let detect_every = c.detect_every.unwrap_or(defaults.detector.detect_every);
    if detect_every == 0 {
        return Err(format!(
            "{prefix}.detect_every = 0: must be 1 (every frame) or more"
        ));
    }
    c.motion_gate.validate(&format!("{prefix}.motion_gate"))?;
    c.source.validate(&format!("{prefix}.source"))?;
    c.tracker.validate().map_err(|e| format!("{prefix}: {e}"))?;
    c.record.validate().map_err(|e| format!("{prefix}: {e}"))?;
    c.analytics.validate(&format!("{prefix}.analytics"))?;
    c.privacy.validate(&format!("{prefix}.privacy"))?;
    if c.privacy.metadata_only {
        let asked = [
            ("preview", c.preview),
            ("record.video", c.record.video),
            ("record.snapshots", c.record.snapshots),
        ];
        if let Some((key, _)) = asked.iter().find(|(_, on)| *on) {
            return Err(format!(
                "{prefix}.{key} = true sends pictures out, and {prefix}.privacy.metadata_only = true forbids it"
            ));
        }
    }
    Ok(CameraConfig {
        name: name.to_string(),
        url: c.url,
        enabled: c.enabled,
        classes: c
            .classes
            .unwrap_or_else(|| defaults.detector.classes.clone()),
        conf,
        schedule: Schedule {
            detect_every,
            motion_gate: c.motion_gate,
        },
        preview: c.preview,
        mqtt: c.mqtt,
        source: c.source,
        tracker: c.tracker,
        record: c.record,
        output: c.output,
        analytics: c.analytics,
        privacy: c.privacy,
    })
}

impl CameraConfig {
    /// Whether any output of this camera sends pictures (preview, video, snapshots).
    pub fn sends_pictures(&self) -> bool {
        self.preview || self.record.video || self.record.snapshots
    }

    /// What the assembler builds for this camera: its recordings, preview (sized by `http`),
    /// MQTT and the recent-events log, retried sources that need not connect at once.
    pub fn spec(&self, http: &HttpConfig) -> CameraSpec {
        CameraSpec {
            name: self.name.clone(),
            section: format!("cameras.{}.", self.name),
            input: self.url.clone(),
            source: self.source.clone(),
            must_connect_first: false,
            schedule: self.schedule.clone(),
            conf: Some(self.conf),
            classes: self.classes.clone(),
            tracker: self.tracker.clone(),
            privacy: self.privacy.clone(),
            analytics: self.analytics.clone(),
            outputs: OutputsSpec {
                record: Some(self.record.clone()),
                preview: self.preview.then_some(PreviewSpec {
                    fps: http.preview_fps,
                    width: http.preview_width,
                }),
                mqtt: self.mqtt,
                event_log: true,
                draw: self.output.clone(),
                ..OutputsSpec::default()
            },
            max_frames: None,
            first_track_id: 1,
            continued_tracks: Vec::new(),
            carried: None,
            snapshots: None,
        }
    }
}

/// `[detector.motion_gate]` with the camera's own `motion_gate` keys over it.
fn motion_gate(
    prefix: &str,
    own: &Table,
    file: &FileSections,
) -> std::result::Result<Table, String> {
    let mut gate = match file.detector.get("motion_gate") {
        Some(Value::Table(t)) => t.clone(),
        _ => Table::new(), // a wrong type is reported when [detector] is read
    };
    match own.get("motion_gate") {
        Some(Value::Table(over)) => gate.extend(over.clone()),
        Some(_) => return Err(format!("{prefix}.motion_gate: must be a table")),
        None => {}
    }
    Ok(gate)
}

/// Deserialises with the path of any bad key in the message: `cameras.gate.tracker.high_score:
/// invalid type: string "x", expected f32`.
fn typed<T: DeserializeOwned>(prefix: &str, value: Value) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.lines().next().unwrap_or("").trim().to_string();
        match path.as_str() {
            "." | "" => match prefix.strip_suffix('.') {
                Some(p) if !p.is_empty() => format!("{p}: {inner}"),
                _ => inner,
            },
            p => format!("{prefix}{p}: {inner}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
[detector]
conf = 0.2
[tracker]
lost_timeout_s = 2.0
[cameras.gate]
url = "rtsp://u:p@10.0.0.1/cam"
conf = 0.4
[cameras.gate.tracker]
high_score = 0.6
[cameras.yard]
url = "rtsp://10.0.0.2/cam"
enabled = false
"#;

    #[test]
    fn cameras_merge_over_the_global_sections() {
        let c = ServeConfig::parse(TWO).unwrap();
        assert_eq!(c.cameras.len(), 2);
        let gate = &c.cameras[0];
        assert_eq!(gate.name, "gate");
        assert_eq!(gate.conf, 0.4);
        assert_eq!(gate.tracker.high_score, 0.6, "camera override");
        assert_eq!(gate.tracker.lost_timeout_s, 2.0, "global default kept");
        let yard = &c.cameras[1];
        assert_eq!(yard.conf, 0.2, "global detector.conf is the default");
        assert!(!yard.enabled);
        assert_eq!(yard.tracker.high_score, 0.5);
        assert!(c.mqtt.is_none());
        assert_eq!(c.http.listen, "127.0.0.1:8080");
    }

    fn error(text: &str) -> String {
        ServeConfig::parse(text).err().expect("must be rejected")
    }

    #[test]
    fn motion_gating_is_merged_key_by_key_per_camera() {
        let text = r#"
[detector.motion_gate]
enabled = true
refresh_s = 5.0
[cameras.gate]
url = "rtsp://10.0.0.1/cam"
[cameras.gate.motion_gate]
enabled = false
[cameras.yard]
url = "rtsp://10.0.0.2/cam"
motion_gate = { min_area = 0.01 }
"#;
        let c = ServeConfig::parse(text).unwrap();
        let (gate, yard) = (
            &c.cameras[0].schedule.motion_gate,
            &c.cameras[1].schedule.motion_gate,
        );
        assert!(!gate.enabled);
        assert_eq!(gate.refresh_s, 5.0, "global key kept");
        assert!(yard.enabled);
        assert_eq!((yard.min_area, yard.refresh_s), (0.01, 5.0));
        let bad = text.replace("min_area = 0.01", "min_area = 2.0");
        let e = ServeConfig::parse(&bad).err().unwrap();
        assert!(
            e.starts_with("cameras.yard.motion_gate.min_area = 2"),
            "{e}"
        );
    }

    #[test]
    fn a_camera_has_its_own_lines_over_the_global_analytics() {
        let text = r#"
[[analytics.zones]]
name = "everywhere"
points = [[0, 0], [100, 0], [100, 100]]
[cameras.gate]
url = "rtsp://10.0.0.1/cam"
[[cameras.gate.analytics.lines]]
name = "door"
points = [[0, 50], [100, 50]]
[cameras.yard]
url = "rtsp://10.0.0.2/cam"
"#;
        let c = ServeConfig::parse(text).unwrap();
        let (gate, yard) = (&c.cameras[0].analytics, &c.cameras[1].analytics);
        assert_eq!(gate.lines[0].name, "door");
        assert_eq!(
            gate.zones[0].name, "everywhere",
            "global keys it does not name are kept"
        );
        assert!(yard.lines.is_empty());
        assert_eq!(yard.zones.len(), 1);
        let bad = "[cameras.gate]\nurl = \"x\"\n[[cameras.gate.analytics.lines]]\nname = \"door\"\npoints = [[0, 0], [0, 0]]\n";
        assert!(
            error(bad).starts_with("cameras.gate.analytics.lines[0].points"),
            "{}",
            error(bad)
        );
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        for text in [
            include_str!("../../configs/serve-webcam.toml"),
            include_str!("../../configs/serve-rtsp.toml"),
            include_str!("../../configs/serve-site.toml"),
        ] {
            let c = ServeConfig::parse(text).unwrap();
            assert!(!c.cameras.is_empty());
        }
        let site = ServeConfig::parse(include_str!("../../configs/serve-site.toml")).unwrap();
        assert_eq!(site.cameras.len(), 4);
        let dock = site
            .cameras
            .iter()
            .find(|c| c.name == "loading_dock")
            .unwrap();
        assert_eq!(dock.source.stall_timeout_s, 10.0, "camera override");
        assert_eq!(dock.source.max_fps, 10.0, "global [source] default kept");
    }

    #[test]
    fn mistakes_name_their_key() {
        let e = error("[cameras.gate]\nurl = \"x\"\nfoo = 1\n");
        assert!(e.contains("cameras.gate") && e.contains("foo"), "{e}");
        let e = error("[cameras.gate]\nurl = \"x\"\n[cameras.gate.tracker]\nhigh_score = \"hi\"\n");
        assert!(e.starts_with("cameras.gate.tracker.high_score:"), "{e}");
        let e = error("[cameras.gate]\nenabled = true\n");
        assert!(e.contains("cameras.gate") && e.contains("url"), "{e}");
        let e = error("[cameras.gate]\nurl = \"a\"\n[cameras.gate]\nurl = \"b\"\n");
        assert!(e.contains("line 3") && e.contains("duplicate"), "{e}");
        let e = error("[cameraz.gate]\nurl = \"a\"\n");
        assert!(e.contains("cameraz"), "{e}");
        let e = error("[cameras.gate]\nurl = \"a\"\nconf = 3.0\n");
        assert!(e.contains("cameras.gate.conf"), "{e}");
        let e = error("[http]\nlisten = \"0.0.0.0:8080\"\n[cameras.gate]\nurl = \"a\"\n");
        assert!(e.contains("http.token"), "{e}");
        let e = error("[cameras.\"a b\"]\nurl = \"a\"\n");
        assert!(e.contains("cameras.a b"), "{e}");
        assert!(error("").contains("no cameras"));
        let e = error("[cameras.a]\nurl = \"a\"\n[cameras.b]\nurl = \"b\"\n[cameras.b.source]\ntransport = \"udp\"\n");
        assert!(e.contains("cameras.b.source.transport"), "{e}");
    }
}
