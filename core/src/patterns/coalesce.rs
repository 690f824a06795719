//! Shared completions for the bindings: concurrent `cacheAside.get` misses of one key, made by one
//! caller group (a Node environment, a Python event loop), wait for one load and get one result.
//!
//! The core's flights already run the loader once per key per process (and once across processes,
//! through the load lock). What this adds is for the front doors: each of 1,000 concurrent callers
//! would otherwise get its own completion and convert the same JSON text into its own objects. Here a
//! binding hands in one *waiter* per caller (a completion id in Node, an `asyncio.Future` in Python);
//! the first caller of a key leads, the others join, and when the load ends the binding receives the
//! one result with every waiter at once: it converts the text once and gives each caller its own copy.
//!
//! Joiners share the leader's loader and options, exactly as joiners of the core's own flights do.
//! A waiter never joins a load started by another group: a Python future must be completed on its own
//! loop.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;

use super::{AsideOptions, CacheAside, Loader};
use crate::error::{Error, Result};
use crate::l1::FillGuard;

/// The waiters of one binding, per group and key. Create one per system and binding.
pub struct Coalescer<W> {
    loads: Mutex<Loads<W>>,
}

/// One load's waiters, and the snapshot it began at (for whether a caller may still join it).
struct Load<W> {
    id: u64,
    guard: FillGuard,
    tags: Vec<String>,
    waiters: Vec<W>,
}

struct Loads<W> {
    /// Loads a caller may join, per group and key.
    running: HashMap<u64, HashMap<String, Load<W>>>,
    /// Loads that began before an invalidation of their key: nobody joins them any more; their
    /// waiters wait here for their lead, by load id.
    detached: HashMap<u64, Vec<W>>,
    next_id: u64,
}

impl<W> Default for Coalescer<W> {
    fn default() -> Self {
        Coalescer { loads: Mutex::new(Loads { running: HashMap::new(), detached: HashMap::new(), next_id: 0 }) }
    }
}

impl<W> std::fmt::Debug for Coalescer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (running, detached) = self
            .loads
            .lock()
            .map(|l| (l.running.values().map(HashMap::len).sum::<usize>(), l.detached.len()))
            .unwrap_or((0, 0));
        f.debug_struct("Coalescer").field("keys_loading", &running).field("detached_loads", &detached).finish()
    }
}

/// What [`CacheAside::enter`] found.
pub enum Entered<W> {
    /// An L1 hit: the value to return (no waiter was made).
    Hit(Arc<crate::l1::Entry>),
    /// The caller's waiter joined a load already running for its group.
    Waiting,
    /// The caller's waiter is the first: start the load with [`Lead::load`].
    Lead(Lead<W>),
}

/// A caller's waiter: made already, or still to be made (only if a waiter turns out to be needed).
enum Made<W, F> {
    Early(W),
    Later(F),
}

/// The first waiter's duty: run the load that every waiter of its key gets the result of.
#[must_use = "the waiters of a lead wait until it is loaded or abandoned"]
pub struct Lead<W> {
    waiters: Unwait<W>,
    aside: CacheAside,
}

/// The waiters of one load, removed from the coalescer when this is dropped unless taken before: a
/// load that never ends (its future dropped at shutdown) never wedges its key.
struct Unwait<W> {
    coalescer: Arc<Coalescer<W>>,
    slot: Option<(u64, String, u64)>,
}

impl<W> Unwait<W> {
    fn take(&mut self) -> Vec<W> {
        self.slot.take().map(|slot| self.coalescer.take(&slot)).unwrap_or_default()
    }
}

impl<W> Drop for Unwait<W> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// A finished load: its one result, and every waiter of it (the leader first, then in join order).
pub type Settled<W> = (Result<Option<Arc<str>>>, Vec<W>);

impl<W> Coalescer<W> {
    /// A coalescer with nobody waiting.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loads<W>> {
        self.loads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The waiters of load `id` (group, key): from the running loads, or the detached ones.
    fn take(&self, slot: &(u64, String, u64)) -> Vec<W> {
        let (group, key, id) = slot;
        let mut loads = self.lock();
        if let Some(keys) = loads.running.get_mut(group) {
            if keys.get(key).is_some_and(|l| l.id == *id) {
                let taken = keys.remove(key).map(|l| l.waiters).unwrap_or_default();
                if keys.is_empty() {
                    loads.running.remove(group);
                }
                return taken;
            }
        }
        loads.detached.remove(id).unwrap_or_default()
    }

    /// Every waiter of every load, taken out (a binding shutting down fails them; the loads
    /// themselves run on and then find nobody waiting).
    pub fn take_all(&self) -> Vec<W> {
        let mut loads = self.lock();
        let running = std::mem::take(&mut loads.running);
        let detached = std::mem::take(&mut loads.detached);
        running.into_values().flat_map(HashMap::into_values).flat_map(|l| l.waiters).chain(detached.into_values().flatten()).collect()
    }

    /// The joinable load of `key` in `group`, if one runs and `fresh` says it began after the last
    /// invalidation of its key; a stale one is detached (its waiters keep waiting for it).
    fn joinable<'a>(loads: &'a mut Loads<W>, group: u64, key: &str, fresh: &dyn Fn(&FillGuard, &[String]) -> bool) -> Option<&'a mut Load<W>> {
        let stale = match loads.running.get(&group).and_then(|keys| keys.get(key)) {
            None => return None,
            Some(l) => !fresh(&l.guard, &l.tags),
        };
        if stale {
            if let Some(l) = loads.running.get_mut(&group).and_then(|keys| keys.remove(key)) {
                loads.detached.insert(l.id, l.waiters);
            }
            return None;
        }
        loads.running.get_mut(&group).and_then(|keys| keys.get_mut(key))
    }

    fn is_running(&self, group: u64, key: &str, fresh: &dyn Fn(&FillGuard, &[String]) -> bool) -> bool {
        Self::joinable(&mut self.lock(), group, key, fresh).is_some()
    }

    /// Add `waiter` to the joinable load of `key` in `group` if one runs (else hand it back).
    fn join_running(&self, group: u64, key: &str, waiter: W, fresh: &dyn Fn(&FillGuard, &[String]) -> bool) -> Option<W> {
        match Self::joinable(&mut self.lock(), group, key, fresh) {
            Some(l) => {
                l.waiters.push(waiter);
                None
            }
            None => Some(waiter),
        }
    }

    /// Join the joinable load of `key`, or start one (at `guard`, with `tags`) with `waiter` as its
    /// first waiter: then its id.
    fn join_or_lead(&self, group: u64, key: &str, waiter: W, guard: FillGuard, tags: &[String], fresh: &dyn Fn(&FillGuard, &[String]) -> bool) -> Option<u64> {
        let mut loads = self.lock();
        if let Some(l) = Self::joinable(&mut loads, group, key, fresh) {
            l.waiters.push(waiter);
            return None;
        }
        let id = loads.next_id;
        loads.next_id += 1;
        loads.running.entry(group).or_default().insert(key.to_owned(), Load { id, guard, tags: tags.to_vec(), waiters: vec![waiter] });
        Some(id)
    }
}

impl CacheAside {
    /// `cacheAside.get`'s synchronous front for the bindings, in one call: check `key` and `opts`
    /// (a bad option fails whatever follows, hit or miss); then, if a load of `key` is
    /// running for `group`, join it (no L1 lookup: the load's result is at least as fresh); else, with
    /// `probe_l1`, return an L1 hit; else start a load with this caller's waiter as its first.
    /// `waiter` is called (outside any lock) only when a waiter is needed.
    ///
    /// # Errors
    /// A bad key or option (nothing is added then).
    pub fn enter<W: Send + 'static>(
        &self,
        coalescer: &Arc<Coalescer<W>>,
        group: u64,
        key: &str,
        opts: &AsideOptions,
        probe_l1: bool,
        waiter: impl FnOnce() -> W,
    ) -> Result<Entered<W>> {
        self.check_options(key, opts)?;
        let fresh = |g: &FillGuard, tags: &[String]| self.load_unchanged(g, tags);
        // The waiter is made at most once: here if a load runs (it may end before the waiter is
        // added: then it leads a new load below), else after the L1 lookup missed.
        let made = if coalescer.is_running(group, key, &fresh) {
            match coalescer.join_running(group, key, waiter(), &fresh) {
                None => {
                    self.count_join();
                    return Ok(Entered::Waiting);
                }
                Some(w) => Made::Early(w),
            }
        } else {
            Made::Later(waiter)
        };
        if probe_l1 {
            if let Some(e) = self.probe_l1(key)? {
                return Ok(Entered::Hit(e));
            }
        }
        let w = match made {
            Made::Early(w) => w,
            Made::Later(f) => f(),
        };
        Ok(match coalescer.join_or_lead(group, key, w, self.load_guard(key), &opts.tags, &fresh) {
            Some(id) => Entered::Lead(Lead { waiters: Unwait { coalescer: coalescer.clone(), slot: Some((group, key.to_owned(), id)) }, aside: self.clone() }),
            None => {
                self.count_join();
                Entered::Waiting
            }
        })
    }
}

impl<W: Send + 'static> Lead<W> {
    /// Load the key (the core's flight: L2, then the loader under the cross-process lock) and hand
    /// the result to every waiter that joined meanwhile. Spawn the returned future: it always ends
    /// with the waiters, a panic in the load included (then as an internal error).
    pub fn load(self, loader: Loader, opts: &AsideOptions) -> impl std::future::Future<Output = Settled<W>> + Send + 'static {
        let Lead { mut waiters, aside } = self;
        let opts = opts.clone();
        async move {
            let key = waiters.slot.as_ref().map(|s| s.1.clone()).unwrap_or_default();
            let load = aside.get_after_l1_miss(&key, loader, &opts);
            let result = AssertUnwindSafe(load).catch_unwind().await.unwrap_or_else(|p| Err(Error::from_panic(p)));
            // Taken after the result: a caller arriving from now on starts a new load (which finds
            // the value just stored, in L1).
            (result, waiters.take())
        }
    }

    /// Give the load up (the binding could not start it): every waiter of the key, to fail.
    pub fn abandon(mut self) -> Vec<W> {
        self.waiters.take()
    }
}
