//! A short Redis lock with a lease, so that one process loads a cold key while the others wait.
//!
//! Taken with `SET {ns}:lk:{key} token NX PX lease`; released with a compare-and-delete script, so a
//! holder whose lease ran out never deletes somebody else's lock. A crashed holder blocks nobody past
//! its lease.

use std::sync::OnceLock;
use std::time::Duration;

use crate::l2::{is_ok, lock_cmd, L2};

fn release_script() -> &'static redis::Script {
    static SCRIPT: OnceLock<redis::Script> = OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(include_str!("release_lock.lua")))
}

/// A held lock; release it with [`LoadLock::release`].
#[derive(Debug)]
pub struct LoadLock {
    key: String,
    token: String,
}

impl LoadLock {
    /// The lock `key` with a fresh random token, not taken yet.
    pub fn candidate(key: String) -> LoadLock {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).expect("the OS random source is available");
        LoadLock { key, token: raw.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// The command that takes this lock for `lease` unless somebody holds it (its reply is `OK`
    /// when it did: [`crate::l2::is_ok`]).
    pub fn acquire_cmd(&self, lease: Duration) -> redis::Cmd {
        lock_cmd(&self.key, &self.token, (lease.as_millis() as u64).max(1))
    }

    /// The lock as a store must still hold it ([`crate::manager::HeldLock`]).
    pub fn held(&self) -> crate::manager::HeldLock<'_> {
        crate::manager::HeldLock { key: &self.key, token: &self.token }
    }

    /// Try to take the lock `key` for `lease`. `Ok(None)`: somebody else holds it.
    pub async fn try_acquire(l2: &L2, key: String, lease: Duration) -> crate::Result<Option<LoadLock>> {
        let lock = LoadLock::candidate(key);
        Ok(is_ok(&l2.command(lock.acquire_cmd(lease)).await?).then_some(lock))
    }

    /// Release the lock if still ours. Failures are ignored: the lease ends it anyway.
    pub async fn release(self, l2: &L2) {
        let _ = l2.script(release_script(), &[&self.key], &[&self.token]).await;
    }
}
