//! The L1 hit path as free functions on the JS thread's current system (issue 15).
//!
//! A `#[napi]` class method pays, on every call, napi-rs's native-borrow bookkeeping (a process-wide
//! mutex around a hash map that detects aliasing of `&self`) and a `napi_unwrap` of `this`: `perf`
//! put them at ~15 % of an L1 hit. The TS layer registers the system it creates, with the array the
//! hit's metadata numbers go to (`setHot`, `ts/meta.ts`), and the L1 lookup `l1Id` is a free function
//! that finds both in a thread-local: the JS thread's.

use std::cell::RefCell;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::l1::Entry;
use stratacache::StrataCache;

use crate::error::IntoNapi;
use crate::handle::NativeCache;

thread_local! {
    static HOT: RefCell<Option<Hot>> = const { RefCell::new(None) };
}

/// The JS thread's current system and its metadata array.
struct Hot {
    sys: Arc<StrataCache>,
    out: MetaOut,
}

/// Where the L1 lookups (`l1Id`, `cacheAsideL1MetaId`) report a hit's age, remaining TTL and number
/// of tags: a `Float64Array` of at least 3 numbers that the TS layer owns. Writing three numbers there
/// instead of returning an object keeps an L1 hit with metadata at the cost of `get`'s: both make this
/// one call returning a number (measured: a second, otherwise identical native function for
/// `getWithMeta` made its cost vary between processes by up to 15 %).
struct MetaOut {
    /// Holds a reference to the JS array, so its memory lives as long as this registration.
    _array: Float64Array,
    /// Its first element.
    ptr: *mut f64,
}

impl MetaOut {
    /// Wrap the TS layer's array (it must hold at least 3 numbers).
    fn new(mut array: Float64Array) -> Result<Self> {
        if array.len() < 3 {
            return Err(crate::error::internal("setHot: the array must hold 3 numbers"));
        }
        // SAFETY: called on the JS thread during a synchronous call; the slice is not kept.
        let ptr = unsafe { array.as_mut() }.as_mut_ptr();
        Ok(MetaOut { _array: array, ptr })
    }

    /// Report the hit `e`: its age and remaining TTL now (the core's definitions), and its tag count.
    fn report(&self, e: &Entry) -> f64 {
        let (age, ttl) = e.age_and_ttl_now();
        // SAFETY: only the JS thread that registered the array reaches it (a thread-local), during a
        // synchronous call, while no JS runs; the memory is an `ArrayBuffer`'s backing store, which V8
        // never moves, kept alive by `_array`; it holds at least 3 numbers (checked in `new`).
        unsafe {
            *self.ptr = age as f64;
            *self.ptr.add(1) = ttl as f64;
            *self.ptr.add(2) = e.tags.len() as f64;
        }
        e.id as f64
    }
}

/// Make `system` this thread's current system, whose L1 hits report their metadata numbers to
/// `out` (the TS layer does it as it creates the system).
#[napi(js_name = "setHot", catch_unwind)]
pub fn set_hot(system: &NativeCache, out: Float64Array) -> Result<()> {
    let hot = Hot { sys: system.handle(), out: MetaOut::new(out)? };
    HOT.with(|h| *h.borrow_mut() = Some(hot));
    Ok(())
}

/// Forget this thread's current system (shutdown).
#[napi(js_name = "clearHot", catch_unwind)]
pub fn clear_hot() {
    HOT.with(|h| *h.borrow_mut() = None);
}

/// The L1 lookup of the current system, synchronous, returning only the entry's id (0 on a miss);
/// counts the hit or miss. With `peekL1` it lets the TS layer reuse an object it already parsed for
/// that entry. A hit's age, remaining TTL and tag count go to the registered array, so `get` and
/// `getWithMeta` share this one call (`ts/meta.ts`).
#[napi(js_name = "l1Id", catch_unwind)]
pub fn l1_id(key: String) -> Result<f64> {
    HOT.with(|h| {
        let h = h.borrow();
        // No system registered: shut down (or never created), as the core would say.
        let hot = h.as_ref().ok_or_else(closed)?;
        let hit = hot.sys.manager().get_l1(&key).napi()?;
        Ok(hit.map_or(0.0, |e| hot.out.report(&e)))
    })
}

/// The id of the hit `e` (0 for none), its metadata numbers written to the registered array. Without
/// a registered array it is 0, a miss (the caller then reads through the core), so the TS layer never
/// reads numbers of an earlier hit.
pub(crate) fn report_hit(e: Option<&Entry>) -> f64 {
    let Some(e) = e else { return 0.0 };
    HOT.with(|h| match h.borrow().as_ref() {
        Some(hot) => hot.out.report(e),
        None => 0.0,
    })
}

fn closed() -> napi::Error {
    crate::error::to_napi(stratacache::Error::new(stratacache::ErrorKind::Closed, "the cache system has been shut down"))
}
