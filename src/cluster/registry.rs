//! The site's shared state in etcd, as plain blocking calls: the cameras, who owns which (keys
//! under each instance's lease, taken in a transaction that succeeds only if the key is absent),
//! the instances, and each camera's hand-over state. Every call has a deadline, so a dead etcd
//! cluster is noticed within it rather than hanging the coordinator.
//!
//! ```text
//!  /vigil/SITE/cameras/NAME    the camera's section, JSON            (no lease)
//!  /vigil/SITE/owners/NAME     {"instance","since"}                  (the owner's lease; its create revision is the fence)
//!  /vigil/SITE/instances/NAME  {"capacity"}                          (the instance's lease)
//!  /vigil/SITE/moved/NAME      Unix time the camera last moved        (no lease)
//!  /vigil/SITE/moves/NAME      the instance a planned move sends it to (no lease)
//!  /vigil/SITE/state/NAME      `Handover`: what its owner left, each second (no lease; written under the fence)
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};

use crate::analytics::Carried;
use crate::error::{Error, Result};
use crate::pipeline::Snapshot;

/// One etcd call's deadline, all tries together.
const CALL: Duration = Duration::from_secs(2);
/// Tries of one call (more than the members of a usual cluster).
const TRIES: usize = 6;

/// Who owns a camera, and since when.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Owner {
    pub instance: String,
    /// Unix seconds the owner took it.
    pub since: f64,
    /// The key's create revision: the camera's fence while this owner holds it.
    #[serde(skip)]
    pub fence: i64,
}

/// An instance as its peers see it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    pub capacity: usize,
}

/// One track handed over in a planned move.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HandedTrack {
    pub id: u64,
    pub class_id: usize,
    pub score: f32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
}

impl HandedTrack {
    /// The track as the next owner's tracker takes it in.
    pub fn track(&self) -> crate::frame::Track {
        let [x1, y1, x2, y2] = self.bbox;
        crate::frame::Track {
            id: self.id,
            class_id: self.class_id,
            score: self.score,
            bbox: crate::geom::BBox::new(x1, y1, x2, y2),
            velocity: [0.0, 0.0],
            predicted: Vec::new(),
        }
    }
}

/// What a camera's owner leaves for the next one: written a few times a second while it runs
/// (the state a new owner goes on from after a crash), and once more at a planned move.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Handover {
    /// Track ids below this were used.
    pub next_id: u64,
    /// The tracks alive when it was written.
    pub tracks: Vec<HandedTrack>,
    /// Line totals, zone visits and the live tracks' histories.
    #[serde(default)]
    pub analytics: Carried,
    /// Written at a planned move: the camera stopped with its tracks alive, for the next owner
    /// to continue. Otherwise the owner was still running it, and a next owner after a crash
    /// takes the counts alone.
    #[serde(default)]
    pub planned: bool,
    /// Unix seconds it was written: a stale hand-over is not continued.
    pub at: f64,
}

impl Handover {
    pub fn of(snapshot: Snapshot, planned: bool) -> Self {
        let tracks = snapshot
            .tracks
            .iter()
            .map(|t| HandedTrack {
                id: t.id,
                class_id: t.class_id,
                score: t.score,
                bbox: [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2],
            })
            .collect();
        Self {
            next_id: snapshot.next_id,
            tracks,
            analytics: snapshot.analytics,
            planned,
            at: unix_now(),
        }
    }
}

/// Everything the coordinator reads each round.
#[derive(Default, Debug)]
pub struct Site {
    pub cameras: BTreeMap<String, serde_json::Value>,
    pub owners: BTreeMap<String, Owner>,
    pub instances: BTreeMap<String, Instance>,
    pub moved: BTreeMap<String, f64>,
    /// Planned moves asked for: camera → the instance to take it.
    pub moves: BTreeMap<String, String>,
}

pub struct Registry {
    runtime: tokio::runtime::Runtime,
    client: Client,
    prefix: String,
}

fn etcd_err(what: &str) -> impl Fn(etcd_client::Error) -> Error + '_ {
    move |e| Error::input(format!("etcd: {what}: {e}"))
}

impl Registry {
    /// Connects to the site's etcd cluster, waiting up to `wait` for it to answer.
    pub fn connect(endpoints: &[String], site: &str, wait: Duration) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("etcd: cannot start its runtime: {e}")))?;
        let options = ConnectOptions::new()
            .with_connect_timeout(CALL)
            .with_timeout(CALL);
        let deadline = std::time::Instant::now() + wait;
        let client = loop {
            let attempt = runtime.block_on(async {
                let mut client = Client::connect(endpoints, Some(options.clone())).await?;
                client.status().await?; // a client connects lazily: ask something
                Ok::<_, etcd_client::Error>(client)
            });
            match attempt {
                Ok(client) => break client,
                Err(e) if std::time::Instant::now() >= deadline => {
                    return Err(Error::input(format!(
                        "cluster.etcd {endpoints:?}: cannot reach etcd: {e} (cluster.wait_s waits for it at start)"
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        };
        Ok(Self {
            runtime,
            client,
            prefix: format!("/vigil/{site}/"),
        })
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}/{name}", self.prefix)
    }

    /// Runs one etcd call, within the call deadline, on a fresh handle each try: the client
    /// spreads calls over the members, so a member that died fails one try and the next goes
    /// to another (a dead member's refusal comes back at once, well inside the deadline).
    fn call<T, F>(
        &self,
        mut f: impl FnMut(Client) -> F,
    ) -> std::result::Result<T, etcd_client::Error>
    where
        F: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        self.runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + CALL;
            let mut last = None;
            for _ in 0..TRIES {
                match tokio::time::timeout_at(deadline, f(self.client.clone())).await {
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(e)) => last = Some(e),
                    Err(_) => break,
                }
            }
            Err(last.unwrap_or_else(|| etcd_client::Error::LeaseKeepAliveError("timed out".into())))
        })
    }

    /// A new lease of `ttl_s` seconds.
    pub fn grant(&self, ttl_s: i64) -> Result<i64> {
        let r = self
            .call(|mut c| async move { c.lease_grant(ttl_s, None).await })
            .map_err(etcd_err("lease"))?;
        Ok(r.id())
    }

    /// Renews a lease once; false when it has expired already.
    pub fn renew(&self, lease: i64) -> Result<bool> {
        let ttl = self
            .call(|mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
                keeper.keep_alive().await?;
                Ok(stream.message().await?.map_or(0, |r| r.ttl()))
            })
            .map_err(etcd_err("lease renewal"))?;
        Ok(ttl > 0)
    }

    /// Gives a lease up (a clean stop): every key under it goes at once.
    pub fn revoke(&self, lease: i64) {
        let _ = self.call(|mut c| async move { c.lease_revoke(lease).await });
    }

    /// Puts `key` under `lease` only if it is absent: the create revision when it was taken.
    fn create(&self, key: String, value: String, lease: Option<i64>) -> Result<Option<i64>> {
        let options = lease.map(|l| PutOptions::new().with_lease(l));
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, options)]);
        let r = self
            .call(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .map_err(etcd_err("claim"))?;
        Ok(r.succeeded()
            .then(|| r.header().map_or(0, |h| h.revision())))
    }

    /// Registers this instance under its lease; false when another holds the name.
    pub fn register(&self, name: &str, instance: &Instance, lease: i64) -> Result<bool> {
        let value = serde_json::to_string(instance).unwrap_or_default();
        Ok(self
            .create(self.key("instances", name), value, Some(lease))?
            .is_some())
    }

    /// Takes camera `name` for `instance` under `lease`: its fence, or `None` when it is owned.
    pub fn claim(&self, name: &str, instance: &str, lease: i64) -> Result<Option<i64>> {
        let owner = Owner {
            instance: instance.to_string(),
            since: unix_now(),
            fence: 0,
        };
        let value = serde_json::to_string(&owner).unwrap_or_default();
        self.create(self.key("owners", name), value, Some(lease))
    }

    /// Lets camera `name` go (only if `fence` still names this ownership).
    pub fn release(&self, name: &str, fence: i64) -> Result<()> {
        let key = self.key("owners", name);
        let txn = Txn::new()
            .when([Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                fence,
            )])
            .and_then([TxnOp::delete(key, None)]);
        self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .map_err(etcd_err("release"))?;
        Ok(())
    }

    pub fn put_camera(&self, name: &str, section: &serde_json::Value) -> Result<bool> {
        let key = self.key("cameras", name);
        let value = section.to_string();
        let r = self
            .call(|mut c| {
                let (key, value) = (key.clone(), value.clone());
                async move {
                    c.put(key, value, Some(PutOptions::new().with_prev_key()))
                        .await
                }
            })
            .map_err(etcd_err("camera"))?;
        Ok(r.prev_key().is_some())
    }

    /// Seeds camera `name` when the site has none of that name.
    pub fn seed_camera(&self, name: &str, section: &serde_json::Value) -> Result<bool> {
        Ok(self
            .create(self.key("cameras", name), section.to_string(), None)?
            .is_some())
    }

    /// Deletes camera `name`; false when there was none.
    pub fn delete_camera(&self, name: &str) -> Result<bool> {
        let key = self.key("cameras", name);
        let r = self
            .call(|mut c| {
                let key = key.clone();
                async move { c.delete(key, None).await }
            })
            .map_err(etcd_err("camera"))?;
        Ok(r.deleted() > 0)
    }

    /// Asks for camera `name` to move to instance `to`.
    pub fn put_move(&self, name: &str, to: &str) -> Result<()> {
        self.put_plain("moves", name, to.to_string())
    }

    /// Writes camera `name`'s state, only while `fence` still names its ownership (an owner
    /// that lost the camera never overwrites its successor's state); false when it does not.
    pub fn put_state(&self, name: &str, fence: i64, handover: &Handover) -> Result<bool> {
        let owner = self.key("owners", name);
        let value = serde_json::to_string(handover).unwrap_or_default();
        let txn = Txn::new()
            .when([Compare::create_revision(owner, CompareOp::Equal, fence)])
            .and_then([TxnOp::put(self.key("state", name), value, None)]);
        let r = self
            .call(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .map_err(etcd_err("state"))?;
        Ok(r.succeeded())
    }

    /// Camera `name`'s state as its last owner left it. It stays (a new owner that dies before
    /// writing its own leaves the same counts to the next); the move request is done with.
    pub fn take_state(&self, name: &str) -> Result<Option<Handover>> {
        let found = self.list("state", Some(name))?;
        self.delete_key("moves", name)?;
        Ok(found
            .into_iter()
            .next()
            .and_then(|(_, v, _)| serde_json::from_str(&v).ok()))
    }

    /// Forgets camera `name`'s state (the camera was deleted from the site).
    pub fn forget_state(&self, name: &str) -> Result<()> {
        self.delete_key("state", name)
    }

    fn delete_key(&self, kind: &str, name: &str) -> Result<()> {
        let key = self.key(kind, name);
        self.call(|mut c| {
            let key = key.clone();
            async move { c.delete(key, None).await }
        })
        .map_err(etcd_err(kind))?;
        Ok(())
    }

    pub fn put_moved(&self, name: &str) -> Result<()> {
        self.put_plain("moved", name, unix_now().to_string())
    }

    fn put_plain(&self, kind: &str, name: &str, value: String) -> Result<()> {
        let key = self.key(kind, name);
        self.call(|mut c| {
            let (key, value) = (key.clone(), value.clone());
            async move { c.put(key, value, None).await }
        })
        .map_err(etcd_err(kind))?;
        Ok(())
    }

    /// `(name, value, create revision)` of every key of a kind (or of one name).
    fn list(&self, kind: &str, name: Option<&str>) -> Result<Vec<(String, String, i64)>> {
        let prefix = format!("{}{kind}/", self.prefix);
        let key = match name {
            Some(n) => format!("{prefix}{n}"),
            None => prefix.clone(),
        };
        let options = name.is_none().then(|| GetOptions::new().with_prefix());
        let r = self
            .call(|mut c| {
                let (key, options) = (key.clone(), options.clone());
                async move { c.get(key, options).await }
            })
            .map_err(etcd_err(kind))?;
        Ok(r.kvs()
            .iter()
            .filter_map(|kv| {
                let key = kv.key_str().ok()?.strip_prefix(&prefix)?.to_string();
                Some((key, kv.value_str().ok()?.to_string(), kv.create_revision()))
            })
            .collect())
    }

    /// The whole site, read in five calls.
    pub fn site(&self) -> Result<Site> {
        let mut site = Site::default();
        for (name, value, _) in self.list("cameras", None)? {
            if let Ok(v) = serde_json::from_str(&value) {
                site.cameras.insert(name, v);
            }
        }
        for (name, value, revision) in self.list("owners", None)? {
            if let Ok(mut owner) = serde_json::from_str::<Owner>(&value) {
                owner.fence = revision;
                site.owners.insert(name, owner);
            }
        }
        for (name, value, _) in self.list("instances", None)? {
            if let Ok(instance) = serde_json::from_str(&value) {
                site.instances.insert(name, instance);
            }
        }
        for (name, value, _) in self.list("moves", None)? {
            site.moves.insert(name, value);
        }
        for (name, value, _) in self.list("moved", None)? {
            if let Ok(t) = value.parse() {
                site.moved.insert(name, t);
            }
        }
        Ok(site)
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
