//! A local Redis Cluster (3 masters + 3 replicas) or Sentinel setup (primary, replica, 3 Sentinels),
//! driven through `tests/support/topology.py` (shared with the Node and Python suites). The helper's
//! stdin is held here: when the test process ends, the helper kills every server it started.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use stratacache::config::SentinelOptions;
use stratacache::RedisOptions;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/topology.py");

/// A running topology.
pub struct Topology {
    /// What the helper printed when ready.
    pub info: serde_json::Value,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

impl Topology {
    /// Start `kind` (`cluster` or `sentinel`) and wait until it is ready.
    pub fn start(kind: &str) -> Self {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg(kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/support/topology.py");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("topology.py {kind}: {e}: {line:?}"));
        Topology { info, io: Mutex::new((stdin, stdout)), _child: child }
    }

    /// Send one command line; the answer after `OK` (panics on `ERR`).
    pub fn ask(&self, command: &str) -> String {
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "{command}").unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        let line = line.trim_end();
        match line.strip_prefix("OK") {
            Some(rest) => rest.trim().to_owned(),
            None => panic!("topology.py {command:?}: {line}"),
        }
    }

    /// The data node ports (cluster: all six; sentinel: primary then replica).
    pub fn data_ports(&self) -> Vec<u16> {
        match self.info["kind"].as_str() {
            Some("cluster") => self.info["nodes"].as_array().unwrap().iter().map(|n| n["port"].as_u64().unwrap() as u16).collect(),
            _ => vec![self.info["primary"]["port"].as_u64().unwrap() as u16, self.info["replica"]["port"].as_u64().unwrap() as u16],
        }
    }

    /// Cluster: the port of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        self.ask(&format!("master-of {key}")).parse().unwrap()
    }

    /// Sentinel: the port named as the primary now.
    pub fn primary(&self) -> u16 {
        self.ask("primary").parse().unwrap()
    }

    /// SIGKILL the server on `port`.
    pub fn kill(&self, port: u16) {
        self.ask(&format!("kill {port}"));
    }

    /// Wait (at most `limit`) until `port`'s role moved to another server; that server and how long.
    /// On a cluster, `key` names the slot to watch (else the first slot `port` serves when asked).
    pub fn wait_failover(&self, port: u16, limit: Duration, key: Option<&str>) -> (u16, Duration) {
        let answer = self.ask(&format!("wait-failover {port} {} {}", limit.as_secs_f64(), key.unwrap_or("")));
        let mut it = answer.split_whitespace();
        let new = it.next().unwrap().parse().unwrap();
        let ms: u64 = it.next().unwrap().parse().unwrap();
        (new, Duration::from_millis(ms))
    }

    /// Options reaching this topology in namespace `ns`, with short timeouts.
    pub fn redis_opts(&self, ns: &str) -> RedisOptions {
        let mut o = RedisOptions::default();
        match self.info["kind"].as_str() {
            Some("cluster") => {
                o.cluster = Some(true);
                o.nodes = Some(self.data_ports().iter().map(|p| format!("127.0.0.1:{p}")).collect());
            }
            _ => {
                let sentinels = self.info["sentinels"].as_array().unwrap().iter().map(|s| format!("127.0.0.1:{}", s["port"])).collect();
                o.sentinel = Some(SentinelOptions::new(self.info["master_name"].as_str().unwrap(), sentinels));
            }
        }
        o.namespace = Some(ns.to_owned());
        o.connect_timeout = Some(Duration::from_millis(500));
        o.command_timeout = Some(Duration::from_millis(500));
        o
    }

    /// Options whose only seed is one node (cluster), to put processes on different nodes.
    pub fn redis_opts_via(&self, ns: &str, port: u16) -> RedisOptions {
        let mut o = self.redis_opts(ns);
        o.nodes = Some(vec![format!("127.0.0.1:{port}")]);
        o
    }

    /// A plain connection to one node.
    pub async fn raw(&self, port: u16) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}
