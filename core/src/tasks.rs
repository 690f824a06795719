//! The one owner of background work: every task the core runs on its own (the bus subscriber,
//! write-behind flushers, refresh-ahead loads, warm schedules) is spawned here, with a name
//! and a [`Stage`], so that shutdown can stop it in a defined order and wait for it.
//!
//! Shutdown ([`Tasks::shutdown`]) refuses new tasks, then for each stage in order (refreshes, then
//! flushers, then the bus) aborts what is still running and waits for it to end (bounded). Components
//! that must finish work first (write-behind flushes its queue) do so before the handle calls it.
//! A finished task removes itself from the table, so the table holds only running tasks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

/// When a task is stopped at shutdown, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Work started by a call that may be dropped (refresh-ahead loads).
    Requests,
    /// Periodic work of a component (write-behind flushers, warm schedules).
    Periodic,
    /// The invalidation bus: last, so that invalidations are heard until the end.
    Bus,
}

struct Running {
    name: &'static str,
    stage: Stage,
    handle: Option<JoinHandle<()>>,
}

/// The background tasks of one system. Cheap to share behind an `Arc`.
pub struct Tasks {
    running: Arc<Mutex<HashMap<u64, Running>>>,
    next: AtomicU64,
    closed: AtomicBool,
    /// The runtime the table was made in: tasks go there even when spawned from a thread outside it
    /// (a binding's synchronous entry point, e.g. registering a warm schedule).
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            running: Arc::default(),
            next: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl Tasks {
    /// An empty table, spawning on the current runtime (if any; else on the caller's at each spawn).
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `fut` in the background as `name`, stopped at `stage` of shutdown. Returns false (and runs
    /// nothing) once shutdown has begun. Needs a tokio runtime.
    pub fn spawn<F>(&self, name: &'static str, stage: Stage, fut: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let table = self.running.clone();
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(id, Running { name, stage, handle: None });
        // Made here and moved in, not made inside the task: a task aborted before its first poll
        // drops its future unpolled, and must leave the table all the same.
        let done = Remove { table, id };
        let task = async move {
            let _done = done;
            fut.await;
        };
        let handle = match &self.runtime {
            Some(rt) => rt.spawn(task),
            None => tokio::spawn(task),
        };
        if let Some(r) = running.get_mut(&id) {
            r.handle = Some(handle);
        }
        true
    }

    /// The names of the tasks running now, sorted (for tests and health checks).
    pub fn running(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> =
            self.running.lock().unwrap_or_else(|p| p.into_inner()).values().map(|r| r.name).collect();
        names.sort_unstable();
        names
    }

    /// Whether shutdown has begun.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuse new tasks, then stop the running ones stage by stage ([`Stage`] order), waiting at most
    /// `per_stage` for each stage's tasks to end after they were aborted. Idempotent.
    pub async fn shutdown(&self, per_stage: Duration) {
        self.closed.store(true, Ordering::Release);
        for stage in [Stage::Requests, Stage::Periodic, Stage::Bus] {
            let handles: Vec<(&'static str, JoinHandle<()>)> = {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running.values_mut().filter(|r| r.stage == stage).filter_map(|r| r.handle.take().map(|h| (r.name, h))).collect()
            };
            for (name, h) in handles {
                h.abort();
                if tokio::time::timeout(per_stage, h).await.is_err() {
                    tracing::warn!("stratacache: background task {name:?} did not stop within {per_stage:?}");
                }
            }
        }
    }
}

/// Removes a task's row when its future ends (completes, panics or is aborted).
struct Remove {
    table: Arc<Mutex<HashMap<u64, Running>>>,
    id: u64,
}

impl Drop for Remove {
    fn drop(&mut self) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_are_listed_while_running_and_stopped_in_order() {
        let tasks = Tasks::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (name, stage) in [("bus", Stage::Bus), ("flusher", Stage::Periodic), ("refresh", Stage::Requests)] {
            let order = order.clone();
            assert!(tasks.spawn(name, stage, async move {
                struct Log(Arc<Mutex<Vec<&'static str>>>, &'static str);
                impl Drop for Log {
                    fn drop(&mut self) {
                        self.0.lock().unwrap().push(self.1);
                    }
                }
                let _log = Log(order, name);
                std::future::pending::<()>().await;
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(tasks.running(), vec!["bus", "flusher", "refresh"]);
        tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(*order.lock().unwrap(), vec!["refresh", "flusher", "bus"], "stopped stage by stage");
        assert!(tasks.running().is_empty());
        assert!(!tasks.spawn("late", Stage::Requests, async {}), "nothing starts after shutdown");
    }

    #[tokio::test]
    async fn a_task_stopped_before_it_ever_ran_leaves_the_table() {
        // On this single-threaded runtime the task cannot be polled before shutdown aborts it.
        let tasks = Tasks::new();
        assert!(tasks.spawn("never polled", Stage::Requests, std::future::pending::<()>()));
        tasks.shutdown(Duration::from_secs(1)).await;
        assert!(tasks.running().is_empty(), "still listed: {:?}", tasks.running());
    }

    #[tokio::test]
    async fn a_finished_or_panicking_task_leaves_the_table() {
        let tasks = Tasks::new();
        tasks.spawn("done", Stage::Requests, async {});
        tasks.spawn("panics", Stage::Requests, async { panic!("boom") });
        for _ in 0..100 {
            if tasks.running().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("still listed: {:?}", tasks.running());
    }
}
