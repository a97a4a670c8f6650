//! One instance's part in the site: it holds a lease, registers itself under it, seeds the
//! site's cameras from its config, and every renewal interval reads the site and decides, one
//! camera at a time, what it takes and what it lets go. Its supervisor is told through the same
//! command channel as the REST API (`Own`, `Disown`): the coordinator never touches a camera.
//!
//! Safety rests on the lease: a camera's owner key lives under its owner's lease, so when an
//! instance dies its cameras are free once the lease lapses; an instance that could not renew in
//! time stops its cameras itself (before the lease can have lapsed at etcd) and its event log
//! refuses to publish (`FenceGuard`), so no two owners speak for a camera with the newest fence.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};

use super::registry::{unix_now, HandedTrack, Handover, Instance, Registry, Site};
use super::ClusterConfig;
use crate::analytics::Carried;
use crate::comms::jetstream::EventStore;
use crate::comms::jetstream::{safety_margin_ms, FenceGuard};
use crate::error::{Error, Result};
use crate::pipeline::{snapshots, Snapshot, Snapshots};

/// A camera that moved is not moved again for this long: nothing flaps.
const MOVE_QUIET_S: f64 = 600.0;
/// Tracks handed over longer ago than this are not continued (ids still are).
const HANDOVER_FRESH_S: f64 = 10.0;

/// What the coordinator asks of its instance's supervisor.
pub enum Order {
    /// Run this camera of the site: its owner key is this instance's now.
    Own {
        name: String,
        section: Value,
        takeover: Box<Takeover>,
    },
    /// Stop this camera: deleted, handed on, or the lease lapsed.
    Disown { name: String },
    /// A planned move: stop the camera without ending its tracks and say what the next owner
    /// continues.
    HandOver {
        name: String,
        reply: Sender<Option<Handover>>,
    },
}

/// What a new owner takes over with a camera.
#[derive(Clone, Debug, Default)]
pub struct Takeover {
    pub fence: i64,
    /// Track ids start here: above every id an earlier owner used.
    pub first_id: u64,
    pub last_seq: u64,
    pub left_open: Vec<Value>,
    /// Tracks the previous owner handed over (a planned move): they go on here.
    pub continued: Vec<crate::frame::Track>,
    /// What the previous owner's analytics carried (after a crash, the counts alone).
    pub carried: Option<Carried>,
    /// Where the camera's tracker leaves its state for this coordinator to write.
    pub snapshots: Option<Snapshots>,
}

/// A camera this instance runs.
struct Owned {
    fence: i64,
    /// Its section as last applied.
    section: Value,
    /// Its newest state, left by its tracker.
    state: Receiver<Snapshot>,
}

pub struct Coordinator {
    registry: Arc<Registry>,
    config: ClusterConfig,
    lease: i64,
    /// When the lease was last renewed.
    renewed: Instant,
    guard: FenceGuard,
    commands: Sender<Order>,
    events: Option<Arc<EventStore>>,
    /// The cameras this instance runs.
    owned: BTreeMap<String, Owned>,
    started: Instant,
    view: Arc<RwLock<Value>>,
}

impl Coordinator {
    /// Takes the lease and the instance's name (refused when another instance holds it), and
    /// seeds the site's cameras from the config where the site has none of that name.
    pub fn join(
        registry: Arc<Registry>,
        config: ClusterConfig,
        seeds: &[(String, Value)],
        (commands, events, guard): (Sender<Order>, Option<Arc<EventStore>>, FenceGuard),
    ) -> Result<Self> {
        let lease = registry.grant(config.lease_s.ceil() as i64)?;
        let me = Instance {
            capacity: config.capacity,
        };
        if !registry.register(&config.instance, &me, lease)? {
            registry.revoke(lease);
            return Err(Error::input(format!(
                "cluster.instance = {:?}: another running instance of site {:?} has this name; give each instance its own",
                config.instance, config.site
            )));
        }
        guard.renewed(config.lease_s);
        for (name, section) in seeds {
            if registry.seed_camera(name, section)? {
                tracing::info!(camera = %name, "cluster: camera seeded from the config");
            }
        }
        Ok(Self {
            registry,
            config,
            lease,
            renewed: Instant::now(),
            guard,
            commands,
            events,
            owned: BTreeMap::new(),
            started: Instant::now(),
            view: Arc::new(RwLock::new(Value::Null)),
        })
    }

    /// What `/api/cluster` shows, refreshed each round.
    pub fn view(&self) -> Arc<RwLock<Value>> {
        self.view.clone()
    }

    /// A round renews the lease at a third of it, and writes the cameras' state at least once a
    /// second.
    fn interval(&self) -> Duration {
        Duration::from_secs_f64((self.config.lease_s / 3.0).min(1.0))
    }

    /// Runs rounds until `stop`; then drains this instance (each camera handed over to a peer
    /// with room) and gives the lease up, so the others take what is left at once.
    pub fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.round();
            std::thread::sleep(self.interval().saturating_sub(started.elapsed()));
        }
        self.drain();
        self.registry.revoke(self.lease);
    }

    /// A planned move of every camera to the peer with the fewest cameras and room for one more;
    /// a camera no peer has room for stops here as before (its tracks end).
    fn drain(&mut self) {
        if self.owned.is_empty() || !self.guard.holds() {
            return;
        }
        let Ok(site) = self.registry.site() else {
            return;
        };
        let me = self.config.instance.clone();
        let mut load: BTreeMap<String, (usize, usize)> = site
            .instances
            .iter()
            .filter(|(name, _)| **name != me)
            .map(|(name, i)| {
                let n = site.owners.values().filter(|o| o.instance == *name).count();
                (name.clone(), (n, i.capacity))
            })
            .collect();
        let cameras: Vec<String> = self.owned.keys().cloned().collect();
        for name in cameras {
            let target = load
                .iter()
                .filter(|(_, (n, cap))| n < cap)
                .min_by_key(|(peer, (n, _))| (*n, (*peer).clone()))
                .map(|(peer, _)| peer.clone());
            let Some(to) = target else {
                break;
            };
            if let Err(e) = self.registry.put_move(&name, &to) {
                tracing::warn!(camera = %name, "cluster: drain: {e}");
                break;
            }
            tracing::info!(camera = %name, to = %to, "cluster: draining: camera handed to a peer");
            self.hand_over(&name);
            if let Some(entry) = load.get_mut(&to) {
                entry.0 += 1;
            }
        }
    }

    /// One round: renew, then reconcile with the site.
    fn round(&mut self) {
        // A lease not renewed by its safety margin may lapse before the next renewal: stop
        // speaking for the cameras first (a process frozen past it, SIGSTOP, ends here).
        let lease_ms = (self.config.lease_s * 1000.0) as u64;
        let margin_s = safety_margin_ms(lease_ms) as f64 / 1000.0;
        if self.renewed.elapsed().as_secs_f64() > self.config.lease_s - margin_s {
            self.guard.lapse();
            self.disown_all("the lease was not renewed in time");
        }
        match self.registry.renew(self.lease) {
            Ok(true) => {
                self.renewed = Instant::now();
                self.guard.renewed(self.config.lease_s);
            }
            Ok(false) => {
                self.guard.lapse();
                self.disown_all("the lease expired");
                if let Err(e) = self.rejoin() {
                    tracing::error!("cluster: cannot take a new lease: {e}");
                }
                return;
            }
            Err(e) => {
                tracing::warn!("cluster: {e}");
                return;
            }
        }
        match self.registry.site() {
            Ok(site) => self.reconcile(&site),
            Err(e) => tracing::warn!("cluster: {e}"),
        }
        self.write_states();
    }

    /// Each camera's newest state to etcd, under its fence.
    fn write_states(&self) {
        for (name, owned) in &self.owned {
            let Some(snapshot) = owned.state.try_iter().last() else {
                continue; // not started yet, or nothing new
            };
            let handover = Handover::of(snapshot, false);
            if let Err(e) = self.registry.put_state(name, owned.fence, &handover) {
                tracing::warn!(camera = %name, "cluster: the camera's state was not written: {e}");
            }
        }
    }

    fn rejoin(&mut self) -> Result<()> {
        self.lease = self.registry.grant(self.config.lease_s.ceil() as i64)?;
        let me = Instance {
            capacity: self.config.capacity,
        };
        if !self
            .registry
            .register(&self.config.instance, &me, self.lease)?
        {
            return Err(Error::input("the instance name is taken"));
        }
        self.renewed = Instant::now();
        self.guard.renewed(self.config.lease_s);
        Ok(())
    }

    fn disown_all(&mut self, why: &str) {
        if self.owned.is_empty() {
            return;
        }
        tracing::warn!(
            cameras = self.owned.len(),
            "cluster: {why}: stopping this instance's cameras"
        );
        for name in std::mem::take(&mut self.owned).into_keys() {
            let _ = self.commands.send(Order::Disown { name });
        }
    }

    fn reconcile(&mut self, site: &Site) {
        let me = self.config.instance.clone();
        // Cameras this instance no longer holds (deleted, or its key gone), or whose section
        // changed.
        let mine: Vec<String> = self.owned.keys().cloned().collect();
        for name in mine {
            let (fence, section) = (self.owned[&name].fence, self.owned[&name].section.clone());
            let held = site
                .owners
                .get(&name)
                .is_some_and(|o| o.instance == me && o.fence == fence);
            match site.cameras.get(&name) {
                Some(now) if held => {
                    if *now != section {
                        self.own(&name, now.clone(), fence);
                    }
                }
                gone => {
                    if gone.is_none() && held {
                        let _ = self.registry.release(&name, fence);
                        let _ = self.registry.forget_state(&name);
                    }
                    self.owned.remove(&name);
                    let _ = self.commands.send(Order::Disown { name });
                }
            }
        }
        // Planned moves of this instance's cameras: hand each over, tracks alive.
        let leaving: Vec<String> = self
            .owned
            .keys()
            .filter(|n| {
                site.moves
                    .get(*n)
                    .is_some_and(|to| *to != me && site.instances.contains_key(to))
            })
            .cloned()
            .collect();
        for name in leaving {
            self.hand_over(&name);
        }
        // Cameras still ours at etcd that this instance stopped (a renewal came late, but the
        // lease held, so nobody else can have taken them): they go on, same fence.
        let forgotten: Vec<(String, i64)> = site
            .owners
            .iter()
            .filter(|(n, o)| o.instance == me && !self.owned.contains_key(*n))
            .filter(|(n, _)| site.cameras.contains_key(*n) && !site.moves.contains_key(*n))
            .map(|(n, o)| (n.clone(), o.fence))
            .collect();
        for (name, fence) in forgotten {
            tracing::info!(camera = %name, fence, "cluster: the lease held: camera resumed");
            self.own(&name, site.cameras[&name].clone(), fence);
        }
        let instances = site.instances.len().max(1);
        let fair = site
            .cameras
            .len()
            .div_ceil(instances)
            .min(self.config.capacity);
        // Peers register within a renewal or two of starting: claiming before then would take
        // a share meant for them.
        let settled = self.started.elapsed() >= self.interval() * 2;
        let unowned = |n: &&String| !site.owners.contains_key(*n);
        // A camera moving here is taken at once (capacity allowing); one moving elsewhere is
        // left for the instance it moves to.
        let moving_here = site
            .cameras
            .keys()
            .filter(unowned)
            .find(|n| site.moves.get(*n) == Some(&me));
        let free = site.cameras.keys().filter(unowned).find(|n| {
            site.moves
                .get(*n)
                .is_none_or(|to| !site.instances.contains_key(to))
        });
        if let (Some(name), true) = (moving_here, self.owned.len() < self.config.capacity) {
            self.claim(name, &site.cameras[name]);
        } else if settled && self.owned.len() < fair {
            if let Some(name) = free {
                self.claim(name, &site.cameras[name]);
            }
        } else if settled {
            self.give_one(site);
        }
        self.publish_view(site);
    }

    /// Takes one unowned camera.
    fn claim(&mut self, name: &str, section: &Value) {
        match self.registry.claim(name, &self.config.instance, self.lease) {
            Ok(Some(fence)) => {
                tracing::info!(camera = name, fence, "cluster: camera taken");
                self.own(name, section.clone(), fence);
            }
            Ok(None) => {} // another instance was quicker
            Err(e) => tracing::warn!("cluster: {e}"),
        }
    }

    /// A planned move away: the supervisor stops the camera with its tracks alive; what it
    /// hands over is written for the next owner before the camera is let go.
    fn hand_over(&mut self, name: &str) {
        let Some(Owned { fence, .. }) = self.owned.remove(name) else {
            return;
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        let _ = self.commands.send(Order::HandOver {
            name: name.to_string(),
            reply,
        });
        if let Ok(Some(handover)) = answer.recv_timeout(Duration::from_secs(30)) {
            match self.registry.put_state(name, fence, &handover) {
                Ok(true) => {}
                Ok(false) => tracing::warn!(camera = name, "cluster: the hand-over was not written: the camera is no longer this instance's"),
                Err(e) => tracing::warn!(camera = name, "cluster: the hand-over was not written: {e}"),
            }
        }
        let _ = self.registry.put_moved(name);
        if let Err(e) = self.registry.release(name, fence) {
            tracing::warn!("cluster: {e}");
        }
        tracing::info!(
            camera = name,
            "cluster: camera handed over for a planned move"
        );
    }

    /// Hands a camera to the supervisor, with what earlier owners left in the log and, after a
    /// planned move, the tracks its last owner was following.
    fn own(&mut self, name: &str, section: Value, fence: i64) {
        let (ends, state) = snapshots();
        let mut takeover = Takeover {
            fence,
            first_id: 1,
            snapshots: Some(ends),
            ..Takeover::default()
        };
        if !self.owned.contains_key(name) {
            match self.registry.take_state(name) {
                Ok(Some(h)) => {
                    takeover.first_id = h.next_id;
                    // Tracks handed over long ago are not where they were; after a crash the
                    // old owner's tracks end (the event log says which) and the counts go on.
                    if h.planned && unix_now() - h.at < HANDOVER_FRESH_S {
                        takeover.continued = h.tracks.iter().map(HandedTrack::track).collect();
                        takeover.carried = Some(h.analytics);
                    } else {
                        takeover.carried = Some(h.analytics.counts_only());
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(camera = name, "cluster: {e}"),
            }
        }
        if let Some(events) = &self.events {
            match events.history(name) {
                Ok(mut h) => {
                    // Tracks whose lifecycle goes on here end here (those lost at the hand-over
                    // as they would have there): not ended as handed over.
                    let carried = takeover.carried.iter().flat_map(|c| &c.tracks);
                    for id in carried.map(|t| t.id) {
                        h.open.remove(&id);
                    }
                    if h.last_seq > 0 && !self.owned.contains_key(name) {
                        // It ran elsewhere before: this is a move, and it will not move again
                        // for a while.
                        let _ = self.registry.put_moved(name);
                    }
                    takeover.first_id = takeover.first_id.max(h.max_id + 1);
                    takeover.last_seq = h.last_seq;
                    takeover.left_open = h.open.into_values().collect();
                }
                Err(e) => tracing::warn!(camera = name, "cluster: the event log's history: {e}"),
            }
        }
        self.owned.insert(
            name.to_string(),
            Owned {
                fence,
                section: section.clone(),
                state,
            },
        );
        let _ = self.commands.send(Order::Own {
            name: name.to_string(),
            section,
            takeover: Box::new(takeover),
        });
    }

    /// Lets one camera go when a peer has fewer than the site's even share rounded down and
    /// this instance is the one with the most (ties: the first name), so that of all instances
    /// reading the same site exactly one gives, one camera a round; never a camera that moved
    /// in the last 10 minutes.
    fn give_one(&mut self, site: &Site) {
        let floor = site.cameras.len() / site.instances.len().max(1);
        let count = |i: &str| site.owners.values().filter(|o| o.instance == i).count();
        let short = site.instances.keys().any(|i| count(i) < floor);
        let richest = site
            .instances
            .keys()
            .max_by(|a, b| count(a).cmp(&count(b)).then(b.cmp(a)));
        let me = self.config.instance.as_str();
        if !short || richest.map(String::as_str) != Some(me) || count(me) <= floor {
            return;
        }
        let now = unix_now();
        let quiet = |n: &String| site.moved.get(n).is_none_or(|t| now - t > MOVE_QUIET_S);
        let Some(name) = self.owned.keys().rev().find(|n| quiet(n)).cloned() else {
            return;
        };
        let Some(Owned { fence, .. }) = self.owned.remove(&name) else {
            return;
        };
        let _ = self.commands.send(Order::Disown { name: name.clone() });
        let _ = self.registry.put_moved(&name);
        if let Err(e) = self.registry.release(&name, fence) {
            tracing::warn!("cluster: {e}");
        }
        tracing::info!(camera = %name, "cluster: camera handed on to balance the site");
    }

    fn publish_view(&self, site: &Site) {
        let mut instances = serde_json::Map::new();
        for (name, i) in &site.instances {
            let cameras: Vec<&String> = site
                .owners
                .iter()
                .filter(|(_, o)| o.instance == *name)
                .map(|(c, _)| c)
                .collect();
            instances.insert(
                name.clone(),
                json!({"capacity": i.capacity, "cameras": cameras}),
            );
        }
        let cameras: serde_json::Map<String, Value> = site
            .cameras
            .keys()
            .map(|c| {
                let owner = site.owners.get(c);
                (
                    c.clone(),
                    json!({"owner": owner.map(|o| &o.instance), "fence": owner.map(|o| o.fence)}),
                )
            })
            .collect();
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = json!({"site": self.config.site, "instance": self.config.instance, "instances": instances, "cameras": cameras});
    }
}

/// Runs the coordinator on its own thread until `stop`.
pub fn spawn(
    coordinator: Coordinator,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cluster".into())
        .spawn(move || coordinator.run(&stop))
        .map_err(|e| Error::internal(format!("cluster: cannot start its thread: {e}")))
}
