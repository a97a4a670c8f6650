//! The recent events of every camera, kept in memory for `GET /api/events`: a bounded ring per
//! camera holding the same JSON objects MQTT publishes. Each camera writes through its own
//! [`EventLogSink`]; the daemon reads the whole log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::payload::AnyEventRecord;
use super::{Sink, SinkPolicy};
use crate::detect::Labels;
use crate::error::Result;
use crate::frame::{StreamEnd, TrackedFrame};

/// Events kept per camera unless `[http] events_per_camera` says otherwise.
pub const DEFAULT_EVENTS_PER_CAMERA: usize = 1000;

/// Every camera's recent events.
pub struct EventLog {
    per_camera: usize,
    rings: Mutex<BTreeMap<String, VecDeque<Value>>>,
}

/// Which events a reader wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter<'a> {
    pub camera: Option<&'a str>,
    /// The event's `type`.
    pub kind: Option<&'a str>,
    /// Only events whose `time` (Unix seconds) is later.
    pub since: Option<f64>,
    /// The newest this many.
    pub limit: usize,
}

impl EventLog {
    pub fn new(per_camera: usize) -> Arc<Self> {
        Arc::new(Self {
            per_camera: per_camera.max(1),
            rings: Mutex::default(),
        })
    }

    fn push(&self, camera: &str, events: Vec<Value>) {
        if events.is_empty() {
            return;
        }
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let ring = rings.entry(camera.to_string()).or_default();
        for event in events {
            if ring.len() == self.per_camera {
                ring.pop_front();
            }
            ring.push_back(event);
        }
    }

    /// The events that pass `filter`, oldest first (by `time`, cameras merged).
    pub fn query(&self, filter: &EventFilter) -> Vec<Value> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let time = |e: &Value| e.get("time").and_then(Value::as_f64).unwrap_or(0.0);
        let mut found: Vec<Value> = rings
            .iter()
            .filter(|(camera, _)| filter.camera.is_none_or(|c| c == camera.as_str()))
            .flat_map(|(_, ring)| ring.iter())
            .filter(|e| {
                filter
                    .kind
                    .is_none_or(|k| e.get("type").and_then(Value::as_str) == Some(k))
            })
            .filter(|e| filter.since.is_none_or(|s| time(e) > s))
            .cloned()
            .collect();
        found.sort_by(|a, b| time(a).total_cmp(&time(b)));
        let skip = found.len().saturating_sub(filter.limit);
        found.split_off(skip)
    }
}

/// One camera's writer into the log.
pub struct EventLogSink {
    log: Arc<EventLog>,
    camera: String,
    labels: Arc<Labels>,
}

impl EventLogSink {
    pub fn new(log: Arc<EventLog>, camera: &str, labels: Arc<Labels>) -> Self {
        Self {
            log,
            camera: camera.to_string(),
            labels,
        }
    }

    fn keep(&self, records: Vec<AnyEventRecord>) {
        let values = records
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        self.log.push(&self.camera, values);
    }
}

impl Sink for EventLogSink {
    fn describe(&self) -> String {
        format!("recent events of {}", self.camera)
    }

    fn kind(&self) -> &'static str {
        "events"
    }

    fn policy(&self) -> SinkPolicy {
        SinkPolicy::NeverBlock
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        if !f.events.is_empty() || !f.scene.events.is_empty() {
            let records =
                AnyEventRecord::all(&f.events, &f.scene, &self.labels, Some(&self.camera));
            self.keep(records);
        }
        Ok(())
    }

    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        self.keep(AnyEventRecord::ended(end, &self.labels, Some(&self.camera)));
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ring_keeps_the_newest_and_queries_filter_and_merge_by_time() {
        let log = EventLog::new(2);
        log.push("a", vec![json!({"type": "track_started", "time": 1.0})]);
        log.push("b", vec![json!({"type": "track_started", "time": 2.0})]);
        log.push(
            "a",
            vec![
                json!({"type": "track_ended", "time": 3.0}),
                json!({"type": "line_crossed", "time": 4.0}),
            ],
        );
        let all = EventFilter {
            limit: 100,
            ..Default::default()
        };
        let times: Vec<f64> = log
            .query(&all)
            .iter()
            .map(|e| e["time"].as_f64().unwrap())
            .collect();
        assert_eq!(times, vec![2.0, 3.0, 4.0], "camera a kept its newest two");
        let ended = EventFilter {
            camera: Some("a"),
            kind: Some("track_ended"),
            ..all.clone()
        };
        assert_eq!(log.query(&ended).len(), 1);
        let recent = EventFilter {
            since: Some(2.5),
            limit: 1,
            ..all
        };
        assert_eq!(
            log.query(&recent),
            vec![json!({"type": "line_crossed", "time": 4.0})]
        );
    }
}
