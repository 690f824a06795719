//! The bus subscriber's incoming queue, bounded: what Redis pushes (bus messages, tracking
//! invalidations; on Cluster every node's pushes, disconnections included) waits here for the
//! subscriber task. It lives in `l2` because a cluster connection is built with its sending half.
//! It holds at most [`CAPACITY`] pushes; when a burst overflows it, the pushes past it are dropped and the queue remembers that it lost some. The
//! subscriber then clears L1, exactly as after a gap in the connection (a dropped invalidation must
//! never leave a stale entry served), and counts it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis::PushInfo;
use tokio::sync::mpsc;

/// Most pushes waiting for the subscriber.
pub(crate) const CAPACITY: usize = 65_536;

/// The sending half, handed to redis-rs; never blocks the connection.
pub(crate) struct PushQueue {
    tx: mpsc::Sender<PushInfo>,
    lost: Arc<AtomicBool>,
}

/// The receiving half, owned by the subscriber task.
pub(crate) struct PushReceiver {
    pub(crate) rx: mpsc::Receiver<PushInfo>,
    lost: Arc<AtomicBool>,
}

impl PushReceiver {
    /// Whether pushes were dropped since the last call (then L1 must be cleared).
    pub(crate) fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::AcqRel)
    }
}

/// A queue of `capacity` pushes.
pub(crate) fn bounded(capacity: usize) -> (PushQueue, PushReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let lost = Arc::new(AtomicBool::new(false));
    (PushQueue { tx, lost: lost.clone() }, PushReceiver { rx, lost })
}

impl redis::aio::AsyncPushSender for PushQueue {
    fn send(&self, info: PushInfo) -> Result<(), redis::aio::SendError> {
        match self.tx.try_send(info) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lost.store(true, Ordering::Release);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(redis::aio::SendError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::aio::AsyncPushSender;
    use redis::PushKind;

    fn push() -> PushInfo {
        PushInfo { kind: PushKind::Message, data: vec![] }
    }

    #[test]
    fn an_overflow_drops_and_is_remembered_once() {
        let (q, mut r) = bounded(2);
        for _ in 0..3 {
            q.send(push()).unwrap();
        }
        assert!(r.take_lost(), "the third push was dropped");
        assert!(!r.take_lost(), "reported once");
        assert!(r.rx.try_recv().is_ok() && r.rx.try_recv().is_ok() && r.rx.try_recv().is_err());
        drop(r);
        assert!(q.send(push()).is_err(), "a closed queue tells redis-rs");
    }
}
