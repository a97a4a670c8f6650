//! Real cluster engines on loopback for the cluster-mode tests: a 3-member etcd cluster and a
//! 3-node NATS JetStream cluster (Debian's `etcd-server` and `nats-server`), each on free ports
//! with its files under the test's folder.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_for, Background};

pub struct Etcd {
    pub members: Vec<Background>,
    pub clients: Vec<String>,
}

/// `n` etcd members forming one cluster; returns once every member answers.
pub fn etcd(dir: &Path, n: usize) -> Etcd {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
        .collect();
    let mut members = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let log = std::fs::File::create(dir.join(format!("etcd{i}.log"))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &format!("m{i}")])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd{i}")))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args([
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "vigil-test",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd (apt install etcd-server)");
        members.push(Background(child));
    }
    let clients: Vec<String> = ports
        .iter()
        .map(|(c, _)| format!("http://127.0.0.1:{c}"))
        .collect();
    let healthy = wait_for(Duration::from_secs(30), || {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &clients.join(","), "endpoint", "health"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(healthy, "etcd cluster not healthy");
    Etcd { members, clients }
}

/// The member that leads the etcd cluster now.
pub fn etcd_leader(etcd: &Etcd) -> usize {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.clients.join(","),
            "endpoint",
            "status",
            "-w",
            "json",
        ])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let leader = status[0]["Status"]["leader"].as_u64();
    status
        .as_array()
        .into_iter()
        .flatten()
        .position(|m| m["Status"]["header"]["member_id"].as_u64() == leader)
        .expect("an etcd leader")
}

/// The JSON value of etcd key `key`, if it is there.
pub fn etcd_value(etcd: &Etcd, key: &str) -> Option<serde_json::Value> {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.clients.join(","),
            "get",
            key,
            "--print-value-only",
        ])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

pub struct Nats {
    pub nodes: Vec<Background>,
    pub clients: Vec<String>,
}

/// `n` nats-server nodes with JetStream, routed into one cluster; returns once each listens.
pub fn nats(dir: &Path, n: usize) -> Nats {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<String> = ports
        .iter()
        .map(|(_, r)| format!("nats://127.0.0.1:{r}"))
        .collect();
    let mut nodes = Vec::new();
    for (i, (client, route)) in ports.iter().enumerate() {
        let conf = dir.join(format!("nats{i}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{client}\njetstream {{ store_dir: \"{}\" }}\n{}",
                dir.join(format!("js{i}")).display(),
                // One node alone is no cluster: with a cluster block it would wait for peers.
                if n > 1 {
                    format!(
                        "cluster {{ name: vigil, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                        routes.join(", ")
                    )
                } else {
                    String::new()
                }
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join(format!("nats{i}.log"))).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server (apt install nats-server)");
        nodes.push(Background(child));
    }
    for (client, _) in &ports {
        assert!(
            wait_for(Duration::from_secs(20), || std::net::TcpStream::connect((
                "127.0.0.1",
                *client
            ))
            .is_ok()),
            "nats-server did not listen on {client}"
        );
    }
    let clients = ports
        .iter()
        .map(|(c, _)| format!("nats://127.0.0.1:{c}"))
        .collect();
    Nats { nodes, clients }
}

/// Every message of `subject` in stream `VIGIL_EVENTS`, in order, read with JetStream's direct
/// get (independently of vigil's own reader).
pub fn journal(servers: &[String], subject: &str) -> Vec<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(servers[0].as_str()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("VIGIL_EVENTS").await.unwrap();
        let mut out = Vec::new();
        let mut from = 1;
        while let Ok(m) = stream
            .direct_get_next_for_subject(subject.to_string(), Some(from))
            .await
        {
            from = m.sequence + 1;
            out.push(serde_json::from_slice(&m.payload).unwrap());
        }
        out
    })
}
