//! Which Redis deployment: standalone, Redis Cluster or Sentinel ([`Topology`]), chosen from the
//! options (`cluster`/`nodes`, `sentinel`) and then the environment (`REDIS_CLUSTER_NODES`,
//! `REDIS_SENTINEL_MASTER` + `REDIS_SENTINELS`); contradictions are config errors naming both sides.
//! See `docs/cluster.md`.

use super::{EnvSource, RedisOptions};
use crate::error::{Error, Result};

/// `sentinel: { masterName, nodes }`: which primary, and the Sentinels (`host:port` each) that name it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SentinelOptions {
    /// The name the Sentinels monitor the primary under (`sentinel monitor <name> …`).
    pub master_name: String,
    /// The Sentinels, `host:port` each.
    pub nodes: Vec<String>,
}

impl SentinelOptions {
    /// Options for `master_name` watched by `nodes`.
    pub fn new(master_name: impl Into<String>, nodes: Vec<String>) -> Self {
        SentinelOptions { master_name: master_name.into(), nodes }
    }
}

/// Which Redis deployment the system talks to.
#[derive(Debug, Clone, PartialEq)]
pub enum Topology {
    /// One server at [`RedisConfig::url`].
    Standalone,
    /// A Redis Cluster: `redis://` URLs of its seed nodes (credentials included; db 0).
    Cluster {
        /// Seed node URLs.
        nodes: Vec<String>,
    },
    /// The primary named `master_name` by the Sentinels at `sentinels` (`redis://` URLs, without
    /// credentials: those in [`RedisConfig::url`] are for the primary).
    Sentinel {
        /// The monitored name of the primary.
        master_name: String,
        /// Sentinel URLs.
        sentinels: Vec<String>,
    },
}

impl Topology {
    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster { .. })
    }
}

impl RedisOptions {
    /// Standalone, Cluster (with its seeds) or Sentinel, from the options and then the environment;
    /// a contradiction is a config error naming both sides.
    pub(super) fn topology_choice(&self, env: &dyn EnvSource) -> Result<Choice> {
        let nodes = self.nodes.clone().unwrap_or_default();
        match (self.cluster, &self.sentinel) {
            (Some(true), Some(_)) => return Err(Error::config("cluster: true and sentinel cannot be used together: pick one")),
            (Some(true), None) => return Ok(Choice::Cluster(nodes)),
            (_, Some(s)) => {
                if !nodes.is_empty() {
                    return Err(Error::config("nodes is for cluster mode; Sentinels go in sentinel.nodes"));
                }
                return Ok(Choice::Sentinel(checked_sentinel(s.clone(), "sentinel.masterName", "sentinel.nodes")?));
            }
            (Some(false), None) if !nodes.is_empty() => {
                return Err(Error::config("nodes is only for cluster mode, but cluster is false"));
            }
            (None, None) if !nodes.is_empty() => {
                return Err(Error::config("nodes is only for cluster mode: add cluster: true"));
            }
            _ => {}
        }
        // Nothing explicit about the topology: an explicit server (or cluster: false) means standalone.
        let explicit_server = self.cluster.is_some() || self.url.is_some() || self.host.is_some() || self.port.is_some();
        if explicit_server {
            return Ok(Choice::Standalone);
        }
        let cluster_env = env.get("REDIS_CLUSTER_NODES");
        let sentinel_env = (env.get("REDIS_SENTINEL_MASTER"), env.get("REDIS_SENTINELS"));
        match (cluster_env, sentinel_env) {
            (Some(_), (Some(_), _) | (_, Some(_))) => Err(Error::config(
                "REDIS_CLUSTER_NODES and REDIS_SENTINEL_MASTER/REDIS_SENTINELS are both set: pick one",
            )),
            (Some(list), _) => {
                let seeds = split_list(&list);
                if seeds.is_empty() {
                    return Err(Error::config(format!("REDIS_CLUSTER_NODES must list host:port seeds, got {list:?}")));
                }
                Ok(Choice::Cluster(seeds))
            }
            (None, (Some(master), sentinels)) => {
                let Some(list) = sentinels else {
                    return Err(Error::config("REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS (host:port,…) is not"));
                };
                Ok(Choice::Sentinel(checked_sentinel(SentinelOptions::new(master, split_list(&list)), "REDIS_SENTINEL_MASTER", "REDIS_SENTINELS")?))
            }
            (None, (None, Some(_))) => Err(Error::config("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER (the primary's name) is not")),
            (None, (None, None)) => Ok(Choice::Standalone),
        }
    }
}

/// The topology asked for, before URLs are built.
pub(super) enum Choice {
    Standalone,
    Cluster(Vec<String>),
    Sentinel(SentinelOptions),
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn checked_sentinel(o: SentinelOptions, name_field: &str, nodes_field: &str) -> Result<SentinelOptions> {
    if o.master_name.trim().is_empty() {
        return Err(Error::config(format!("{name_field} must name the primary, got {:?}", o.master_name)));
    }
    if o.nodes.is_empty() {
        return Err(Error::config(format!("{nodes_field} must list at least one Sentinel (host:port)")));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn topologies_from_options_and_environment() {
        let opts = RedisOptions { cluster: Some(true), nodes: Some(vec!["10.0.0.1:7000".into(), "10.0.0.2:7001".into()]), password: Some("pw".into()), ..Default::default() };
        let c = opts.resolve_with(&env(&[])).unwrap();
        assert_eq!(c.topology, Topology::Cluster { nodes: vec!["redis://:pw@10.0.0.1:7000/0".into(), "redis://:pw@10.0.0.2:7001/0".into()] });
        assert_eq!(c.url, "redis://:pw@10.0.0.1:7000/0");
        // The environment's seeds, unless the caller chose a server.
        let e = env(&[("REDIS_CLUSTER_NODES", "a:1, b:2")]);
        assert_eq!(RedisOptions::default().resolve_with(&e).unwrap().topology, Topology::Cluster { nodes: vec!["redis://a:1/0".into(), "redis://b:2/0".into()] });
        let explicit = RedisOptions { url: Some("redis://solo:6379".into()), ..Default::default() };
        assert_eq!(explicit.resolve_with(&e).unwrap().topology, Topology::Standalone);
        // cluster: true without nodes: the URL is the one seed.
        let one = RedisOptions { cluster: Some(true), url: Some("redis://seed:7000".into()), ..Default::default() };
        assert_eq!(one.resolve_with(&env(&[])).unwrap().topology, Topology::Cluster { nodes: vec!["redis://seed:7000/0".into()] });
        let s = RedisOptions { sentinel: Some(SentinelOptions::new("mymaster", vec!["s1:26379".into()])), password: Some("pw".into()), ..Default::default() };
        let c = s.resolve_with(&env(&[])).unwrap();
        assert_eq!(c.topology, Topology::Sentinel { master_name: "mymaster".into(), sentinels: vec!["redis://s1:26379/0".into()] });
        assert!(c.url.contains(":pw@"), "the primary's credentials stay in the URL");
        let e = env(&[("REDIS_SENTINEL_MASTER", "m"), ("REDIS_SENTINELS", "s1:1,s2:2")]);
        assert!(matches!(RedisOptions::default().resolve_with(&e).unwrap().topology, Topology::Sentinel { .. }));
        // Bad combinations name what is wrong.
        let bad = |o: RedisOptions, vars: &[(&str, &str)], says: &str| {
            let e = o.resolve_with(&env(vars)).unwrap_err();
            assert_eq!(e.code(), "ERR_STRATACACHE_CONFIG");
            assert!(e.message().contains(says), "{e} should mention {says}");
        };
        bad(RedisOptions { nodes: Some(vec!["a:1".into()]), ..Default::default() }, &[], "cluster: true");
        bad(RedisOptions { cluster: Some(false), nodes: Some(vec!["a:1".into()]), ..Default::default() }, &[], "cluster is false");
        bad(RedisOptions { cluster: Some(true), nodes: Some(vec!["nonsense".into()]), ..Default::default() }, &[], "host:port");
        bad(RedisOptions { cluster: Some(true), db: Some(2), ..Default::default() }, &[], "db 0");
        bad(RedisOptions { sentinel: Some(SentinelOptions::new("", vec!["a:1".into()])), ..Default::default() }, &[], "masterName");
        bad(RedisOptions { sentinel: Some(SentinelOptions::new("m", vec![])), ..Default::default() }, &[], "sentinel.nodes");
        bad(RedisOptions::default(), &[("REDIS_SENTINEL_MASTER", "m")], "REDIS_SENTINELS");
        bad(RedisOptions::default(), &[("REDIS_CLUSTER_NODES", "a:1"), ("REDIS_SENTINELS", "b:2")], "both set");
    }

}
