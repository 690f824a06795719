//! Batches: the per-key commands of one call, sent as pipelines. On a standalone Redis (or behind
//! Sentinel) a batch is one pipeline: one round trip, the bus message last in it. On Redis Cluster a
//! pipeline cannot span slots (redis-rs refuses it, and a `MOVED` reply resends a whole pipeline, which
//! would run another slot's scripts twice), so a batch is one pipeline per slot, all sent at once (one
//! round trip of latency); the bus message rides in the pipeline when there is one slot, and is sent
//! after every slot answered when there are several, so no process hears of a write before it is done.

use std::collections::HashMap;

use redis::cluster_routing::Slot;
use redis::{Pipeline, RedisResult, Value};

use super::L2;
use crate::error::Result;

/// What an error reply inside a batch does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorReplies {
    /// Fails the call (the first one is its error).
    Fail,
    /// Stays in the replies, for the caller to judge one by one.
    Keep,
}

/// The units (indices into the call's keys) sent in one pipeline, and their replies in order.
pub(super) struct Group {
    pub(super) units: Vec<usize>,
    pub(super) replies: Vec<Value>,
}

/// Which units go together: every unit in one group (no slot: any connection), or one group per slot
/// in order of first appearance, so the group of unit 0 comes first and starts with it.
fn plan<K: AsRef<str>>(cluster: bool, keys: &[K]) -> Vec<(Option<Slot>, Vec<usize>)> {
    if !cluster || keys.is_empty() {
        return vec![(None, (0..keys.len()).collect())];
    }
    let mut groups: Vec<(Option<Slot>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Slot, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let slot = Slot::for_key(k.as_ref());
        let g = *index.entry(slot).or_insert_with(|| {
            groups.push((Some(slot), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    groups
}

impl L2 {
    /// Send the commands of `keys.len()` units — `build(p, units)` adds those of `units`, each unit
    /// about its key — then the bus message, as described in the module docs. `publish` needs
    /// [`ErrorReplies::Keep`] (a refused `PUBLISH` must not fail the writes). A pipeline that cannot
    /// reach Redis fails the call; with several slots the bus message still goes when any slot was
    /// written, since those writes happened.
    pub(super) async fn batch<K: AsRef<str>>(
        &self,
        keys: &[K],
        errors: ErrorReplies,
        publish: Option<(&str, String)>,
        build: impl Fn(&mut Pipeline, &[usize]),
    ) -> Result<Vec<Group>> {
        debug_assert!(publish.is_none() || errors == ErrorReplies::Keep);
        let groups = plan(self.conn.is_cluster(), keys);
        let mut pipes: Vec<Pipeline> = groups
            .iter()
            .map(|(_, units)| {
                let mut p = redis::pipe();
                if errors == ErrorReplies::Keep {
                    p.ignore_errors();
                }
                build(&mut p, units);
                p
            })
            .collect();
        let with_publish = publish.is_some();
        let alone = groups.len() == 1;
        let mut separate = None;
        if let Some((channel, payload)) = publish {
            if alone {
                pipes[0].cmd("PUBLISH").arg(channel).arg(payload);
            } else {
                separate = Some(redis::cmd("PUBLISH").arg(channel).arg(payload).clone());
            }
        }
        let slots: Vec<Option<Slot>> = groups.iter().map(|(s, _)| *s).collect();
        let (mut replies, publish_reply) = self
            .call(|conn| async move {
                if alone {
                    let mut c = conn;
                    return Ok((vec![c.pipeline_on(&pipes[0], slots[0]).await?], None));
                }
                let sends = pipes.iter().zip(&slots).map(|(p, slot)| {
                    let mut c = conn.clone();
                    async move { c.pipeline_on(p, *slot).await }
                });
                let results: Vec<RedisResult<Vec<Value>>> = futures::future::join_all(sends).await;
                let mut publish_reply = None;
                if let Some(cmd) = separate {
                    if results.iter().any(|r| r.is_ok()) {
                        let mut c = conn.clone();
                        publish_reply = Some(cmd.query_async::<Value>(&mut c).await);
                    }
                }
                let replies = results.into_iter().collect::<RedisResult<Vec<_>>>()?;
                Ok((replies, publish_reply))
            })
            .await?;
        if with_publish {
            match (alone, publish_reply) {
                (true, _) => self.check_publish(replies[0].pop()),
                (false, Some(Ok(reply))) => self.check_publish(Some(reply)),
                (false, Some(Err(e))) => {
                    // The writes were made, but other processes were not told: say so.
                    let e = crate::error::Error::from(e);
                    tracing::warn!("stratacache: a write reached Redis but its bus message did not ({e}); other processes may serve their L1 copy until it expires");
                    self.fault(&e);
                }
                (false, None) => {}
            }
        }
        Ok(groups.into_iter().zip(replies.drain(..)).map(|((_, units), replies)| Group { units, replies }).collect())
    }
}

/// The replies of every unit in unit order, `per` replies each, from the groups of a batch whose
/// pipelines hold exactly `per` replies per unit.
pub(super) fn in_unit_order(groups: Vec<Group>, count: usize, per: usize) -> Vec<Value> {
    if groups.len() == 1 {
        return groups.into_iter().next().map(|g| g.replies).unwrap_or_default();
    }
    let mut slots: Vec<Option<Value>> = vec![None; count * per];
    for g in groups {
        let mut it = g.replies.into_iter();
        for u in g.units {
            for j in 0..per {
                slots[u * per + j] = it.next();
            }
        }
    }
    slots.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_is_one_group_and_cluster_groups_by_slot_in_order() {
        let keys = ["{a}1", "{b}1", "{a}2", "{c}1", "{b}2"];
        assert_eq!(plan(false, &keys), vec![(None, vec![0, 1, 2, 3, 4])]);
        let groups = plan(true, &keys);
        let units: Vec<Vec<usize>> = groups.iter().map(|(_, u)| u.clone()).collect();
        assert_eq!(units, vec![vec![0, 2], vec![1, 4], vec![3]]);
        assert!(groups.iter().all(|(s, _)| s.is_some()));
        assert_eq!(plan::<&str>(true, &[]), vec![(None, vec![])]);
    }

    #[test]
    fn replies_come_back_in_unit_order() {
        let g = |units: Vec<usize>, r: &[i64]| Group { units, replies: r.iter().map(|n| Value::Int(*n)).collect() };
        let out = in_unit_order(vec![g(vec![0, 2], &[0, 10, 2, 12]), g(vec![1], &[1, 11])], 3, 2);
        assert_eq!(out, [0, 10, 1, 11, 2, 12].map(Value::Int).to_vec());
    }
}
