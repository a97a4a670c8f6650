//! A camera's events into the site's durable log (cluster mode): the objects MQTT publishes, plus
//! `seq` (per camera, contiguous across owners), `fence` and `instance`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::payload::AnyEventRecord;
use super::{Sink, SinkPolicy};
use crate::comms::jetstream::{EventStore, Outgoing};
use crate::detect::Labels;
use crate::error::Result;
use crate::frame::{StreamEnd, TrackedFrame};

/// What a camera's owner stamps on its events.
#[derive(Clone, Debug, Default)]
pub struct Stamp {
    pub instance: String,
    /// The camera's fence: the create revision of its owner key.
    pub fence: i64,
    /// The last `seq` already in the log for this camera.
    pub last_seq: u64,
    /// Tracks an earlier owner left open: this owner ends them (`reason: "handover"`) first.
    pub left_open: Vec<Value>,
}

pub struct JetStreamSink {
    store: Arc<EventStore>,
    camera: String,
    subject: String,
    labels: Arc<Labels>,
    stamp: Stamp,
    seq: u64,
}

impl JetStreamSink {
    pub fn new(store: Arc<EventStore>, camera: &str, labels: Arc<Labels>, stamp: Stamp) -> Self {
        let subject = store.subject(camera);
        let mut sink = Self {
            store,
            camera: camera.to_string(),
            subject,
            labels,
            seq: stamp.last_seq,
            stamp,
        };
        for started in std::mem::take(&mut sink.stamp.left_open) {
            let mut ended = started;
            ended["type"] = json!("track_ended");
            ended["reason"] = json!("handover");
            ended["time"] = json!(crate::cluster::unix_now());
            sink.publish(ended);
        }
        sink
    }

    fn publish(&mut self, mut event: Value) {
        self.seq += 1;
        event["seq"] = json!(self.seq);
        event["fence"] = json!(self.stamp.fence);
        event["instance"] = json!(self.stamp.instance);
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        self.store.send(Outgoing {
            subject: self.subject.clone(),
            id: format!("{}:{}", self.camera, self.seq),
            payload,
        });
    }

    fn publish_all(&mut self, records: Vec<AnyEventRecord>) {
        let values: Vec<Value> = records
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        for v in values {
            self.publish(v);
        }
    }
}

impl Sink for JetStreamSink {
    fn describe(&self) -> String {
        format!("event log '{}'", self.subject)
    }

    fn kind(&self) -> &'static str {
        "jetstream"
    }

    fn policy(&self) -> SinkPolicy {
        // Never waits on the log; but every event must be numbered in order, so the frames
        // themselves are not skipped (the queue behind `EventStore::send` drops, counted).
        SinkPolicy::Lossless
    }

    fn write(&mut self, f: &TrackedFrame) -> Result<()> {
        if f.events.is_empty() && f.scene.events.is_empty() {
            return Ok(());
        }
        let labels = self.labels.clone();
        let camera = self.camera.clone();
        let records = AnyEventRecord::all(&f.events, &f.scene, &labels, Some(&camera));
        self.publish_all(records);
        Ok(())
    }

    fn write_end(&mut self, end: &StreamEnd) -> Result<()> {
        let labels = self.labels.clone();
        let camera = self.camera.clone();
        let records = AnyEventRecord::ended(end, &labels, Some(&camera));
        self.publish_all(records);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
