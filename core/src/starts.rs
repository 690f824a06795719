//! Calls start in the order they were made.
//!
//! A binding turns each call into a future and spawns it on the runtime. Spawned tasks are not
//! guaranteed to first run in spawn order (the scheduler keeps a LIFO slot and moves batches between
//! queues). A `set(k)` followed by `get(k)` could then reach Redis as GET, SET and read nothing; this
//! was measured at about 0.5 % of such pairs on a 1-worker runtime. A [`StartQueue`] gives each future
//! its first poll in submission order, on one task. The first poll is where a call sends its command
//! to the connection, so commands leave in call order. Each future that is not done after its first
//! poll then runs as its own task.
//!
//! The queue also knows when every call it started has finished ([`StartQueue::is_idle`]). A call
//! made then cannot overtake anything, so [`StartQueue::start_here`] gives it its first poll at once,
//! on the caller's thread: a read on the idle lane ([`crate::lane`]) writes its command there,
//! without waking a runtime thread first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use futures::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// The calls of one binding, started in the order they were submitted. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StartQueue {
    tx: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
    /// Calls started and not finished.
    in_flight: Arc<AtomicUsize>,
}

/// Counts a call as in flight until it is dropped (finished, or dropped with the runtime).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl StartQueue {
    /// A queue whose starter task `spawn` puts on the binding's runtime; it runs until every clone of
    /// the queue is dropped.
    pub fn new(spawn: impl FnOnce(BoxFuture<'static, ()>)) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<BoxFuture<'static, ()>>();
        spawn(Box::pin(async move {
            while let Some(mut call) = rx.recv().await {
                // Polled here, in call order: a call sends its command now. Its waker is this task's
                // for now; the spawned task's first poll registers its own.
                if futures::poll!(&mut call).is_pending() {
                    tokio::spawn(call);
                }
            }
        }));
        StartQueue { tx, in_flight: Arc::new(AtomicUsize::new(0)) }
    }

    /// Start `call` after every call submitted before it.
    pub fn start(&self, call: BoxFuture<'static, ()>) {
        let counted = InFlight::new(&self.in_flight);
        // The starter ends only when every sender is gone, so a send cannot fail while `self` lives;
        // a runtime shut down under us drops the call, as a spawn would.
        let _ = self.tx.send(Box::pin(async move {
            call.await;
            drop(counted);
        }));
    }

    /// Whether every call started so far has finished. Calls are started from one thread (the
    /// binding's), so for that thread the answer stays true until it starts another call.
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Start `call` now: its first poll runs here, on the caller's thread, inside `runtime`'s context;
    /// if it is not done then, the rest runs as a task of `runtime`, spawned by the first wake-up
    /// (from the thread that wakes it, typically the runtime's I/O driver: no thread is woken just to
    /// poll it). Only when [`StartQueue::is_idle`]: otherwise it could overtake earlier calls.
    pub fn start_here(&self, runtime: &Handle, call: BoxFuture<'static, ()>) {
        let counted = InFlight::new(&self.in_flight);
        let mut call: BoxFuture<'static, ()> = Box::pin(async move {
            call.await;
            drop(counted);
        });
        let handoff = Arc::new(Handoff { runtime: runtime.clone(), slot: Mutex::new(Slot::FirstPoll { woken: false }) });
        let waker = Waker::from(handoff.clone());
        let first = {
            let _entered = runtime.enter();
            call.as_mut().poll(&mut Context::from_waker(&waker))
        };
        if first.is_ready() {
            return;
        }
        let mut slot = handoff.lock();
        if matches!(*slot, Slot::FirstPoll { woken: true }) {
            *slot = Slot::Spawned;
            drop(slot);
            runtime.spawn(call);
        } else {
            *slot = Slot::Parked(call);
        }
    }
}

/// The waker of a call's first poll on the caller's thread: its first wake-up spawns the call.
struct Handoff {
    runtime: Handle,
    slot: Mutex<Slot>,
}

enum Slot {
    /// The first poll is running (`woken`: a wake-up came meanwhile).
    FirstPoll { woken: bool },
    /// Pending after its first poll, waiting for its first wake-up.
    Parked(BoxFuture<'static, ()>),
    /// Handed to the runtime: its own waker takes over at its next poll.
    Spawned,
}

impl Handoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Wake for Handoff {
    fn wake(self: Arc<Self>) {
        let mut slot = self.lock();
        match std::mem::replace(&mut *slot, Slot::Spawned) {
            Slot::Parked(call) => {
                drop(slot);
                self.runtime.spawn(call);
            }
            Slot::FirstPoll { .. } => *slot = Slot::FirstPoll { woken: true },
            Slot::Spawned => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn calls_first_run_in_submission_order_and_all_finish() {
        let q = StartQueue::new(|starter| drop(tokio::spawn(starter)));
        let first_polls = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        for i in 0..1000u32 {
            let (log, done) = (first_polls.clone(), done_tx.clone());
            q.start(
                async move {
                    log.lock().unwrap().push(i);
                    if i % 2 == 0 {
                        tokio::task::yield_now().await; // not done at its first poll
                    }
                    done.send(i).unwrap();
                }
                .boxed(),
            );
        }
        let mut finished = Vec::new();
        for _ in 0..1000 {
            finished.push(tokio::time::timeout(std::time::Duration::from_secs(5), done_rx.recv()).await.unwrap().unwrap());
        }
        assert_eq!(*first_polls.lock().unwrap(), (0..1000).collect::<Vec<_>>());
        finished.sort_unstable();
        assert_eq!(finished, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn start_here_polls_first_on_the_callers_thread_and_counts_the_call_until_it_ends() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let q = { let _g = rt.enter(); StartQueue::new(|starter| drop(tokio::spawn(starter))) };
        assert!(q.is_idle());
        let caller = std::thread::current().id();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let log = polls.clone();
        q.start_here(
            rt.handle(),
            async move {
                log.lock().unwrap().push(std::thread::current().id());
                release_rx.await.unwrap(); // pending after the first poll
                log.lock().unwrap().push(std::thread::current().id());
                done_tx.send(()).unwrap();
            }
            .boxed(),
        );
        assert_eq!(*polls.lock().unwrap(), vec![caller], "the first poll ran before start_here returned, here");
        assert!(!q.is_idle(), "in flight until it ends");
        release_tx.send(()).unwrap();
        done_rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        let polls = polls.lock().unwrap().clone();
        assert_ne!(polls[1], caller, "the rest ran on the runtime");
        let t = std::time::Instant::now();
        while !q.is_idle() {
            assert!(t.elapsed() < std::time::Duration::from_secs(5), "still counted in flight");
            std::thread::yield_now();
        }
        // A call done in its first poll ends at once.
        q.start_here(rt.handle(), async {}.boxed());
        assert!(q.is_idle());
        // A queued call is in flight until it ends.
        let (tx, rx) = std::sync::mpsc::channel();
        q.start(async move { tx.send(()).unwrap() }.boxed());
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        let t = std::time::Instant::now();
        while !q.is_idle() {
            assert!(t.elapsed() < std::time::Duration::from_secs(5), "a finished queued call still counted");
            std::thread::yield_now();
        }
    }
}
