//! MQTT output: what each camera publishes, over the process's one broker connection
//! (`comms::mqtt`, which queues, delivers at QoS 1 and reconnects).
//!
//! The pipeline never waits for the network: a sink's `write` only queues messages.
//!
//! Topics: `{prefix}/{camera}/events` (one `EventRecord` each) and `{prefix}/{camera}/tracks`
//! (the latest frame's tracks, at most every `tracks_interval_s` of stream time).

use std::sync::Arc;

use serde::Serialize;

use super::payload::{round_ms, unix_time_s, AnyEventRecord, TrackRecord};
use super::{Sink, SinkPolicy};
use crate::comms::mqtt::{CameraQueue, MqttPublisher};
use crate::error::{Error, Result};
use crate::frame::{Event as TrackEvent, StreamEnd, TrackedFrame};
use crate::labels::Labels;
use crate::metrics::CameraMetrics;
use crate::scene::SceneFrame;

impl MqttPublisher {
    /// The output of one camera. (An inherent method of the connection's type, kept with what
    /// it makes: the connection knows nothing of sinks.)
    pub fn sink(
        self: &Arc<Self>,
        camera: &str,
        labels: Arc<Labels>,
        metrics: CameraMetrics,
    ) -> MqttSink {
        let queue = self.register(camera, metrics);
        let config = self.config();
        let prefix = format!("{}/{}", config.topic_prefix, topic_level(camera));
        MqttSink {
            tracks_interval_ms: config.tracks_interval_s * 1000.0,
            queue,
            labels,
            events_topic: format!("{prefix}/events"),
            tracks_topic: format!("{prefix}/tracks"),
            last_snapshot_ms: None,
        }
    }
}

/// The output of one camera: queues its events and track snapshots for the publisher.
pub struct MqttSink {
    queue: CameraQueue,
    labels: Arc<Labels>,
    events_topic: String,
    tracks_topic: String,
    tracks_interval_ms: f64,
    last_snapshot_ms: Option<f64>,
}

/// The payload of `{prefix}/{camera}/tracks`.
#[derive(Serialize)]
struct SnapshotRecord<'a> {
    camera: &'a str,
    frame: u64,
    pts_ms: f64,
    time: f64,
    tracks: Vec<TrackRecord<'a>>,
}

impl MqttSink {
    /// True when a snapshot is due on a frame at `pts_ms`; it is then taken as sent.
    fn snapshot_due(&mut self, pts_ms: f64) -> bool {
        let due = match self.last_snapshot_ms {
            None => true,
            // Time going backwards means the stream restarted: start the cadence again.
            Some(last) => pts_ms - last >= self.tracks_interval_ms || pts_ms < last,
        };
        if due {
            self.last_snapshot_ms = Some(pts_ms);
        }
        due
    }

    fn publish(&mut self, payload: Vec<u8>, snapshot: bool) {
        let topic = if snapshot {
            &self.tracks_topic
        } else {
            &self.events_topic
        };
        self.queue.push(topic, payload, snapshot);
    }
}

impl MqttSink {
    fn event_payloads(&self, events: &[TrackEvent], scene: &SceneFrame) -> Result<Vec<Vec<u8>>> {
        let camera = self.queue.camera();
        AnyEventRecord::all(events, scene, &self.labels, Some(camera))
            .iter()
            .map(serde_json::to_vec)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::internal(format!("MQTT payload: {e}")))
    }
}

impl Sink for MqttSink {
    fn describe(&self) -> String {
        let c = self.queue.config();
        format!("MQTT {}:{} '{}'", c.host, c.port, self.events_topic)
    }

    fn kind(&self) -> &'static str {
        "mqtt"
    }

    fn policy(&self) -> SinkPolicy {
        SinkPolicy::NeverBlock
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        let snapshot_due = self.snapshot_due(f.frame.meta.pts_ms);
        let camera = self.queue.camera();
        let json = |e: serde_json::Error| Error::internal(format!("MQTT payload: {e}"));
        let events = self.event_payloads(&f.events, &f.scene)?;
        let snapshot = if snapshot_due {
            let record = SnapshotRecord {
                camera,
                frame: f.frame.meta.number,
                pts_ms: round_ms(f.frame.meta.pts_ms),
                time: unix_time_s(),
                tracks: TrackRecord::all(&f.tracks, &f.scene, &self.labels),
            };
            Some(serde_json::to_vec(&record).map_err(json)?)
        } else {
            None
        };
        for payload in events {
            self.publish(payload, false);
        }
        if let Some(payload) = snapshot {
            self.publish(payload, true);
        }
        Ok(())
    }

    /// Tracks ended between frames: their `track_ended` and `zone_exit` events.
    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        let camera = self.queue.camera();
        let payloads = AnyEventRecord::ended(end, &self.labels, Some(camera))
            .iter()
            .map(serde_json::to_vec)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("MQTT payload: {e}")))?;
        for payload in payloads {
            self.publish(payload, false);
        }
        Ok(())
    }

    /// Nothing to flush here: the publisher delivers the queue at its `shutdown`.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A camera name as one topic level: the MQTT separator and wildcards would change the topic's
/// meaning (and a wildcard in a PUBLISH makes the broker drop the connection).
fn topic_level(camera: &str) -> String {
    let level: String = camera
        .chars()
        .map(|c| {
            if matches!(c, '/' | '#' | '+' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if level.is_empty() {
        "_".into()
    } else {
        level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_names_cannot_change_the_topic_structure() {
        assert_eq!(topic_level("gate/1#+"), "gate_1__");
        assert_eq!(topic_level(""), "_");
    }
}
