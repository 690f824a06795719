//! Python objects ⇄ JSON text, in Rust (as orjson does), without the `json` module.
//!
//! To JSON: `None`, `bool`, `int` (64-bit range), finite `float`, `str`, `list`/`tuple`, `dict` with
//! `str` keys; `datetime`/`date` become their `isoformat()` string, `UUID` its string. Anything else
//! — NaN, sets, bytes, arbitrary objects, cycles — is refused with a `TypeError` (code
//! `ERR_STRATACACHE_SERIALIZATION`) naming the key, the type and where it was found.
//! From JSON: a serde visitor builds the Python objects directly (dicts keep their key order).

use std::fmt;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use stratacache::{Error, ErrorKind};

const MAX_DEPTH: usize = 128;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();

struct Writer<'a> {
    key: &'a str,
    out: String,
    /// Writing options, not a value: non-finite floats become the strings "NaN"/"Infinity" so the
    /// core's option parser can name them (`ttl must be > 0, got NaN`).
    options: bool,
}

fn refuse(key: &str, path: &str, what: String) -> Error {
    let where_ = if path.is_empty() { String::new() } else { format!(" at {path}") };
    Error::new(ErrorKind::Serialization, format!("cannot store the value of key {key:?}: it contains {what}{where_}"))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".into())
}

impl Writer<'_> {
    fn string(&mut self, s: &str) {
        // serde_json escapes exactly as JSON requires.
        self.out.push_str(&serde_json::to_string(s).expect("strings always serialize"));
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(refuse(self.key, path, "a circular reference or nesting deeper than 128 levels".into()));
        }
        if obj.is_none() {
            self.out.push_str("null");
        } else if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_cow().map_err(|_| refuse(self.key, path, "a str that is not valid UTF-8 (lone surrogate)".into()))?;
            self.string(&s);
        } else if let Ok(b) = obj.cast::<PyBool>() {
            self.out.push_str(if b.is_true() { "true" } else { "false" });
        } else if let Ok(i) = obj.cast::<PyInt>() {
            if let Ok(v) = i.extract::<i64>() {
                self.out.push_str(&v.to_string());
            } else if let Ok(v) = i.extract::<u64>() {
                self.out.push_str(&v.to_string());
            } else {
                return Err(refuse(self.key, path, "an int outside the 64-bit range".into()));
            }
        } else if let Ok(f) = obj.cast::<PyFloat>() {
            let v = f.value();
            if !v.is_finite() {
                if self.options {
                    let name = if v.is_nan() { "NaN" } else if v > 0.0 { "Infinity" } else { "-Infinity" };
                    self.string(name);
                    return Ok(());
                }
                return Err(refuse(self.key, path, format!("the float {v}")));
            }
            self.out.push_str(&serde_json::to_string(&v).expect("finite floats serialize"));
        } else if let Ok(d) = obj.cast::<PyDict>() {
            self.out.push('{');
            for (n, (k, v)) in d.iter().enumerate() {
                let Ok(ks) = k.cast::<PyString>() else {
                    return Err(refuse(self.key, path, format!("a dict key of type {}", type_name(&k))));
                };
                let ks = ks.to_cow().map_err(|_| refuse(self.key, path, "a dict key that is not valid UTF-8".into()))?;
                if n > 0 {
                    self.out.push(',');
                }
                self.string(&ks);
                self.out.push(':');
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&ks);
                self.value(&v, path, depth + 1)?;
                path.truncate(len);
            }
            self.out.push('}');
        } else if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
            self.out.push('[');
            for (n, item) in obj.try_iter().map_err(|_| refuse(self.key, path, "an unreadable sequence".into()))?.enumerate() {
                let item = item.map_err(|_| refuse(self.key, path, "an unreadable sequence".into()))?;
                if n > 0 {
                    self.out.push(',');
                }
                let len = path.len();
                path.push_str(&format!("[{n}]"));
                self.value(&item, path, depth + 1)?;
                path.truncate(len);
            }
            self.out.push(']');
        } else {
            let py = obj.py();
            let is = |cell: &PyOnceLock<Py<PyType>>, m: &str, a: &str| -> bool {
                cell.import(py, m, a).map(|t| obj.is_instance(t).unwrap_or(false)).unwrap_or(false)
            };
            if is(&DATETIME, "datetime", "datetime") || is(&DATE, "datetime", "date") {
                let iso = obj.call_method0("isoformat").and_then(|s| s.extract::<String>());
                let iso = iso.map_err(|_| refuse(self.key, path, "a date whose isoformat() failed".into()))?;
                self.string(&iso);
            } else if is(&UUID, "uuid", "UUID") {
                let s = obj.str().and_then(|s| s.extract::<String>());
                let s = s.map_err(|_| refuse(self.key, path, "a UUID whose str() failed".into()))?;
                self.string(&s);
            } else {
                return Err(refuse(self.key, path, format!("a value of type {}", type_name(obj))));
            }
        }
        Ok(())
    }
}

/// The JSON text of `obj`, stored under `key` (named in errors). `None` at the top is refused.
pub fn to_json(key: &str, obj: &Bound<'_, PyAny>) -> Result<String, Error> {
    if obj.is_none() {
        return Err(Error::new(
            ErrorKind::Serialization,
            format!("cannot store None for key {key:?}; use delete() to remove a key"),
        ));
    }
    let mut w = Writer { key, out: String::with_capacity(128), options: false };
    w.value(obj, &mut String::new(), 0)?;
    Ok(w.out)
}

/// Options (a dict or None) as a `serde_json::Value` for the core's option parser.
pub fn options_value(what: &str, obj: Option<&Bound<'_, PyAny>>) -> Result<serde_json::Value, Error> {
    match obj {
        None => Ok(serde_json::Value::Null),
        Some(o) if o.is_none() => Ok(serde_json::Value::Null),
        Some(o) => {
            let mut w = Writer { key: what, out: String::with_capacity(64), options: true };
            w.value(o, &mut String::new(), 0)
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("{what} options: {}", e.message())))?;
            serde_json::from_str(&w.out).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
        }
    }
}

struct PySeed<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for PySeed<'py> {
    type Value = Bound<'py, PyAny>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for PySeed<'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.0.None().into_bound(self.0))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.0, v).to_owned().into_any())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into_pyobject(self.0).expect("int").into_any())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into_pyobject(self.0).expect("int").into_any())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(PyFloat::new(self.0, v).into_any())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v).into_any())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0);
        while let Some(item) = seq.next_element_seed(PySeed(self.0))? {
            list.append(item).map_err(serde::de::Error::custom)?;
        }
        Ok(list.into_any())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0);
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let v = map.next_value_seed(PySeed(self.0))?;
            dict.set_item(PyString::new(self.0, &k), v).map_err(serde::de::Error::custom)?;
        }
        Ok(dict.into_any())
    }
}

/// Build Python objects from JSON text (already checked portable by the core, so this does not fail
/// in practice; if it does, the error is a `SerializationError`, never a bare exception).
pub fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let mut de = serde_json::Deserializer::from_str(text);
    PySeed(py).deserialize(&mut de).map_err(|e| {
        crate::errors::to_py(py, &Error::new(ErrorKind::Serialization, format!("a stored value does not convert to Python: {e}")))
    })
}
