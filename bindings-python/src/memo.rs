//! The parsed-object memo of L1 hits.
//!
//! Converting a 1 KB JSON value into Python objects costs about as much as `json.loads` (~10 µs);
//! copying an already-built tree of dicts and lists costs a fraction of that. So the first hit on an
//! L1 entry converts it and keeps the result, keyed by the key and the core's entry id (which changes
//! whenever the entry does); later hits on the same entry return a fresh deep copy of dicts and lists
//! (strings, numbers, booleans and `None` are immutable and shared). Callers never share mutable
//! objects. This is a conversion cache only: the core still decides every hit, expiry and invalidation.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::conv::from_json;

/// One converted value: the entry id it came from, the objects, their shape, and the length of the
/// JSON text they came from.
struct Memoized {
    id: u64,
    value: Py<PyAny>,
    shape: std::sync::Arc<Shape>,
    bytes: usize,
}

/// The memo is bounded by the JSON text its values came from, too (the objects take a small multiple
/// of it): past 64 MiB it starts over, and a value over 4 MiB is never kept.
const MAX_BYTES: usize = 64 * 1024 * 1024;
const MAX_VALUE_BYTES: usize = MAX_BYTES / 16;

#[derive(Default)]
struct Entries {
    map: HashMap<String, Memoized>,
    bytes: usize,
}

/// Memo of converted L1 values for one system.
pub struct Memo {
    entries: Mutex<Entries>,
    capacity: usize,
}

impl Memo {
    /// A memo holding at most `capacity` converted values and 64 MiB of their JSON (cleared when full).
    pub fn new(capacity: usize) -> Self {
        Memo { entries: Mutex::new(Entries::default()), capacity: capacity.max(1) }
    }

    /// How many values it holds, and the bytes of JSON they came from (for the test suite).
    pub fn stats(&self) -> (usize, usize) {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        (e.map.len(), e.bytes)
    }

    /// A fresh Python value for the L1 entry `(key, id, json)`.
    pub fn value<'py>(&self, py: Python<'py>, key: &str, id: u64, json: &str) -> PyResult<Bound<'py, PyAny>> {
        // Take the memoized object out under the lock, but copy outside it: allocating may run
        // arbitrary Python code (garbage collection), which could re-enter.
        let cached = {
            let m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            m.map.get(key).filter(|e| e.id == id).map(|e| (e.value.clone_ref(py), e.shape.clone()))
        };
        if let Some((obj, shape)) = cached {
            return copy_with(obj.bind(py), &shape);
        }
        let fresh = from_json(py, json)?;
        if is_container(&fresh) && json.len() <= MAX_VALUE_BYTES {
            let shape = std::sync::Arc::new(shape_of(&fresh));
            let keep = copy_with(&fresh, &shape)?.unbind();
            // What is dropped is released after the lock: a release may run Python code.
            let (_old, _cleared) = {
                let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                let old = m.map.remove(key);
                if let Some(o) = &old {
                    m.bytes -= o.bytes;
                }
                let cleared = if m.map.len() >= self.capacity || m.bytes + json.len() > MAX_BYTES {
                    m.bytes = 0;
                    Some(std::mem::take(&mut m.map))
                } else {
                    None
                };
                m.map.insert(key.to_owned(), Memoized { id, value: keep, shape, bytes: json.len() });
                m.bytes += json.len();
                (old, cleared)
            };
        }
        Ok(fresh)
    }

    /// Forget everything (on close, so the objects are released).
    pub fn clear(&self) {
        let _released = std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Where the containers are in a converted value, so a copy touches only those: a dict with only
/// leaf values is copied with one `PyDict_Copy`, a list with one slice.
pub enum Shape {
    /// An immutable leaf (str, int, float, bool, None): shared, not copied.
    Leaf,
    /// A dict, and its values that are containers (by key).
    Dict(Vec<(Py<PyAny>, Shape)>),
    /// A list, and its items that are containers (by index).
    List(Vec<(usize, Shape)>),
}

fn is_container(v: &Bound<'_, PyAny>) -> bool {
    v.cast::<PyDict>().is_ok() || v.cast::<PyList>().is_ok()
}

/// The shape of a converted value.
pub fn shape_of(obj: &Bound<'_, PyAny>) -> Shape {
    if let Ok(d) = obj.cast::<PyDict>() {
        Shape::Dict(d.iter().filter(|(_, v)| is_container(v)).map(|(k, v)| (k.unbind(), shape_of(&v))).collect())
    } else if let Ok(l) = obj.cast::<PyList>() {
        Shape::List(l.iter().enumerate().filter(|(_, v)| is_container(v)).map(|(i, v)| (i, shape_of(&v))).collect())
    } else {
        Shape::Leaf
    }
}

/// A deep copy of the dicts and lists of `obj` (whose shape is `shape`); leaves are shared.
pub fn copy_with<'py>(obj: &Bound<'py, PyAny>, shape: &Shape) -> PyResult<Bound<'py, PyAny>> {
    match shape {
        Shape::Leaf => Ok(obj.clone()),
        Shape::Dict(children) => {
            let d = obj.cast::<PyDict>()?;
            let out = d.copy()?;
            for (k, sub) in children {
                let k = k.bind(obj.py());
                if let Some(v) = d.get_item(k)? {
                    out.set_item(k, copy_with(&v, sub)?)?;
                }
            }
            Ok(out.into_any())
        }
        Shape::List(children) => {
            let l = obj.cast::<PyList>()?;
            let out = l.get_slice(0, l.len());
            for (i, sub) in children {
                out.set_item(*i, copy_with(&l.get_item(*i)?, sub)?)?;
            }
            Ok(out.into_any())
        }
    }
}

/// `n` deep copies of a converted JSON value (dicts and lists copied, leaves shared), for the callers
/// that waited for one cache-aside load (the core's shared completions): the shape is computed once,
/// so each copy costs a fraction of a conversion.
pub fn json_copies<'py>(value: &Bound<'py, PyAny>, n: usize) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if !is_container(value) {
        return Ok(vec![value.clone(); n]);
    }
    let shape = shape_of(value);
    (0..n).map(|_| copy_with(value, &shape)).collect()
}
