//! The connection thread (`mqtt`): it moves queued messages to rumqttc one at a time, drives
//! its event loop, reconnects forever with backoff, keeps the publishes in flight across a
//! reconnection, and disconnects cleanly at shutdown.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, ConnectionError, Event, NetworkOptions, Outgoing, Packet, Publish, QoS,
    RecvTimeoutError, Request,
};

use super::queue::{lock, wait_on, Shared, Stop};
use super::{MqttConfig, BACKOFF_MAX, BACKOFF_MIN, DISCONNECT_WAIT, IDLE_POLL, INFLIGHT};
use crate::backoff::Backoff;
use crate::error::{Error, Result};

/// Seconds a TCP connect and CONNACK may take.
const CONNECT_TIMEOUT_S: u64 = 5;

/// Starts the connection thread for `config`, serving `shared`'s queue.
pub(super) fn spawn(config: &MqttConfig, shared: Arc<Shared>) -> Result<JoinHandle<()>> {
    let (client, mut connection) = Client::new(config.options(), 4);
    let mut network = NetworkOptions::new();
    // Small messages answered by small acks: Nagle's delay would only add latency.
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(CONNECT_TIMEOUT_S);
    connection.eventloop.set_network_options(network);
    let io = Io {
        shared,
        client,
        connection,
        endpoint: format!("{}:{}", config.host, config.port),
        client_id: config.client_id(),
        replay: VecDeque::new(),
        connected: false,
        failures: 0,
        backoff: broker_backoff(),
    };
    std::thread::Builder::new()
        .name("mqtt".into())
        .spawn(move || io.run())
        .map_err(|e| Error::internal(format!("cannot start the MQTT thread: {e}")))
}

/// The waits between connection attempts: doubling from 0.5 s to 10 s, plus up to 25 % so that
/// many processes that lost the same broker do not all come back in the same instant.
fn broker_backoff() -> Backoff {
    Backoff::new(BACKOFF_MIN, BACKOFF_MAX, 1.0..=1.25)
}

/// The connection thread: feeds queued messages to rumqttc and drives its event loop.
struct Io {
    shared: Arc<Shared>,
    /// Unused for publishing (messages go straight into the event loop's pending list) but it
    /// keeps the request channel open, and sends the final DISCONNECT.
    client: Client,
    connection: Connection,
    endpoint: String,
    client_id: String,
    /// Publishes that were in flight when the connection broke, held until the next CONNACK.
    replay: VecDeque<Request>,
    connected: bool,
    /// Failed attempts since the last success: only the first of a run is logged.
    failures: u32,
    backoff: Backoff,
}

impl Io {
    fn run(mut self) {
        while !self.should_stop() {
            if self.connected {
                self.feed();
                self.poll();
            } else {
                self.connect();
            }
        }
        self.finish();
    }

    fn should_stop(&self) -> bool {
        let o = lock(&self.shared.outbox);
        match o.stop {
            Stop::Running => false,
            Stop::Now => true,
            Stop::Drain(deadline) => {
                Instant::now() >= deadline || (o.queue.is_empty() && self.nothing_in_flight())
            }
        }
    }

    fn nothing_in_flight(&self) -> bool {
        let el = &self.connection.eventloop;
        self.replay.is_empty()
            && el.pending.is_empty()
            && el.state.inflight() == 0
            && el.state.collision.is_none()
    }

    /// One attempt; rumqttc bounds it by its connection timeout.
    fn connect(&mut self) {
        match self.connection.recv() {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => self.on_connected(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.on_failure(e),
            // Only when every client handle is gone, and this thread holds one.
            Err(_) => self.pause(BACKOFF_MIN),
        }
    }

    fn on_connected(&mut self) {
        self.connected = true;
        self.shared.connected.store(true, Ordering::Relaxed);
        self.failures = 0;
        self.backoff.reset();
        self.shared.set_trouble(None);
        // rumqttc empties its pending list when the broker has no session for us (always, with
        // a clean session), so the publishes it had in flight were set aside in `on_failure`;
        // they go back to the front, sent before anything new (duplicates are allowed at QoS 1).
        let pending = &mut self.connection.eventloop.pending;
        let newer = std::mem::take(pending);
        pending.extend(self.replay.drain(..));
        pending.extend(newer);
        tracing::info!(
            "MQTT: connected to {} as '{}'{}",
            self.endpoint,
            self.client_id,
            match pending.len() {
                0 => String::new(),
                n => format!("; re-sending {n} unacknowledged messages"),
            }
        );
    }

    fn on_failure(&mut self, e: ConnectionError) {
        // On a broken connection rumqttc moves its un-acknowledged publishes (and requests not
        // yet read) to its pending list, which the next CONNACK would discard: keep them.
        let pending = std::mem::take(&mut self.connection.eventloop.pending);
        self.replay.extend(
            pending
                .into_iter()
                .filter(|r| matches!(r, Request::Publish(_))),
        );
        let message = if self.connected {
            self.connected = false;
            self.shared.connected.store(false, Ordering::Relaxed);
            format!("MQTT: connection to {} lost: {e}", self.endpoint)
        } else {
            format!("MQTT: cannot connect to {}: {e}", self.endpoint)
        };
        if self.failures == 0 {
            tracing::warn!("{message}; retrying with backoff");
            self.shared.set_trouble(Some(message));
        } else {
            tracing::debug!("{message}");
        }
        self.failures += 1;
        let wait = self.backoff.next_wait(&mut rand::thread_rng());
        self.pause(wait);
    }

    /// Hands the next queued message to rumqttc: one at a time, only into a free in-flight slot
    /// and only once its pending list is empty, because rumqttc serves that list ahead of its
    /// own flow control, and a second packet-id collision would overwrite the first.
    fn feed(&mut self) {
        let el = &mut self.connection.eventloop;
        if !el.pending.is_empty() || el.state.collision.is_some() || el.state.inflight() >= INFLIGHT
        {
            return;
        }
        if let Some(m) = self.shared.pop() {
            let publish = Publish::new(m.topic, QoS::AtLeastOnce, m.payload);
            el.pending.push_back(Request::Publish(publish));
        }
    }

    fn poll(&mut self) {
        let el = &self.connection.eventloop;
        let busy = !el.pending.is_empty() || el.state.inflight() > 0;
        let event = if busy {
            // A packet is to be written or an ack is due (or the keep-alive fails): wait for it
            // whole, since abandoning a poll midway could lose a packet being written.
            self.connection
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            // Idle: come back regularly for new messages; an idle poll loses nothing if cut.
            self.connection.recv_timeout(IDLE_POLL)
        };
        match event {
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => self.on_failure(e),
            Err(RecvTimeoutError::Disconnected) => self.pause(IDLE_POLL),
        }
    }

    /// Sleeps, waking early when asked to stop, never past a drain deadline.
    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut o = lock(&self.shared.outbox);
        let stop = o.stop;
        loop {
            let limit = match o.stop {
                Stop::Drain(deadline) => until.min(deadline),
                _ => until,
            };
            let now = Instant::now();
            if now >= limit || o.stop != stop {
                return;
            }
            o = wait_on(&self.shared.signal, o, limit - now);
        }
    }

    fn finish(mut self) {
        if self.connected {
            self.disconnect();
        }
        let unsent = self.shared.close();
        let el = &self.connection.eventloop;
        let unacked = self.replay.len() + el.pending.len() + usize::from(el.state.inflight());
        if unsent + unacked > 0 {
            tracing::warn!(
                "MQTT: stopping with {unsent} messages unsent (counted as dropped) and {unacked} \
                 not acknowledged"
            );
        }
        self.shared.connected.store(false, Ordering::Relaxed);
    }

    /// A clean DISCONNECT, so the broker logs a goodbye rather than a dropped connection.
    fn disconnect(&mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        let until = Instant::now() + DISCONNECT_WAIT;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.connection.recv_timeout(left) {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
        }
        tracing::info!("MQTT: disconnected from {}", self.endpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnections_wait_from_half_a_second_doubling_to_ten_plus_up_to_a_quarter() {
        let mut b = broker_backoff();
        let mut rng = rand::thread_rng();
        for limit in [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0] {
            let w = b.next_wait(&mut rng).as_secs_f64();
            assert!(w >= limit && w <= limit * 1.25 + 1e-9, "{w} vs {limit}");
        }
        b.reset();
        assert!(b.next_wait(&mut rng).as_secs_f64() <= 0.625 + 1e-9);
    }
}
