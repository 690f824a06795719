//! Python objects ⇄ JSON text, in Rust (as orjson does), without the `json` module.
//!
//! To JSON: `None`, `bool`, `int` (64-bit range), finite `float`, `str`, `list`/`tuple`, `dict` with
//! `str` keys; `datetime`/`date` become their `isoformat()` string, `UUID` its string. Anything else
//! — NaN, sets, bytes, arbitrary objects, cycles — is refused with a `TypeError` (code
//! `ERR_STRATACACHE_SERIALIZATION`) naming the key, the type and where it was found.
//! From JSON: a serde visitor builds the Python objects directly (dicts keep their key order).

use std::fmt;
use std::io::Write as _;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use stratacache::{Error, ErrorKind};

const MAX_DEPTH: usize = 128;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UUID: PyOnceLock<Py<PyType>> = PyOnceLock::new();

struct Writer {
    out: Vec<u8>,
    /// Writing options, not a value: non-finite floats become the strings "NaN"/"Infinity" so the
    /// core's option parser can name them (`ttl must be > 0, got NaN`).
    options: bool,
}

/// Why a value was refused; the path is collected while unwinding, so a value that converts pays
/// nothing for it.
struct Refusal {
    what: String,
    path: Vec<String>,
}

impl Refusal {
    fn new(what: impl Into<String>) -> Self {
        Refusal { what: what.into(), path: Vec::new() }
    }

    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }

    fn into_error(self, key: &str) -> Error {
        let mut path = String::new();
        for seg in self.path.iter().rev() {
            if !path.is_empty() && !seg.starts_with('[') {
                path.push('.');
            }
            path.push_str(seg);
        }
        refuse(key, &path, self.what)
    }
}

fn refuse(key: &str, path: &str, what: String) -> Error {
    let where_ = if path.is_empty() { String::new() } else { format!(" at {path}") };
    Error::new(ErrorKind::Serialization, format!("cannot store the value of key {key:?}: it contains {what}{where_}"))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".into())
}

impl Writer {
    fn string(&mut self, s: &str) {
        // serde_json escapes exactly as JSON requires, straight into the buffer.
        serde_json::to_writer(&mut self.out, s).expect("writing to a Vec cannot fail");
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Result<(), Refusal> {
        if depth > MAX_DEPTH {
            return Err(Refusal::new("a circular reference or nesting deeper than 128 levels"));
        }
        if obj.is_none() {
            self.out.extend_from_slice(b"null");
        } else if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_cow().map_err(|_| Refusal::new("a str that is not valid UTF-8 (lone surrogate)"))?;
            self.string(&s);
        } else if let Ok(b) = obj.cast::<PyBool>() {
            self.out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        } else if let Ok(i) = obj.cast::<PyInt>() {
            if let Ok(v) = i.extract::<i64>() {
                let _ = write!(self.out, "{v}");
            } else if let Ok(v) = i.extract::<u64>() {
                let _ = write!(self.out, "{v}");
            } else {
                return Err(Refusal::new("an int outside the 64-bit range"));
            }
        } else if let Ok(f) = obj.cast::<PyFloat>() {
            let v = f.value();
            if !v.is_finite() {
                if self.options {
                    let name = if v.is_nan() { "NaN" } else if v > 0.0 { "Infinity" } else { "-Infinity" };
                    self.string(name);
                    return Ok(());
                }
                return Err(Refusal::new(format!("the float {}", stratacache::options::fmt_number(v))));
            }
            serde_json::to_writer(&mut self.out, &v).expect("finite floats serialize");
        } else if let Ok(d) = obj.cast::<PyDict>() {
            self.out.push(b'{');
            for (n, (k, v)) in d.iter().enumerate() {
                let Ok(ks) = k.cast::<PyString>() else {
                    return Err(Refusal::new(format!("a dict key of type {}", type_name(&k))));
                };
                let ks = ks.to_cow().map_err(|_| Refusal::new("a dict key that is not valid UTF-8"))?;
                if n > 0 {
                    self.out.push(b',');
                }
                self.string(&ks);
                self.out.push(b':');
                self.value(&v, depth + 1).map_err(|r| r.at(ks.into_owned()))?;
            }
            self.out.push(b'}');
        } else if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
            self.out.push(b'[');
            let items = obj.try_iter().map_err(|_| Refusal::new("an unreadable sequence"))?;
            for (n, item) in items.enumerate() {
                let item = item.map_err(|_| Refusal::new("an unreadable sequence"))?;
                if n > 0 {
                    self.out.push(b',');
                }
                self.value(&item, depth + 1).map_err(|r| r.at(format!("[{n}]")))?;
            }
            self.out.push(b']');
        } else {
            let py = obj.py();
            let is = |cell: &PyOnceLock<Py<PyType>>, m: &str, a: &str| -> bool {
                cell.import(py, m, a).map(|t| obj.is_instance(t).unwrap_or(false)).unwrap_or(false)
            };
            if is(&DATETIME, "datetime", "datetime") || is(&DATE, "datetime", "date") {
                let iso = obj.call_method0("isoformat").and_then(|s| s.extract::<String>());
                let iso = iso.map_err(|_| Refusal::new("a date whose isoformat() failed"))?;
                self.string(&iso);
            } else if is(&UUID, "uuid", "UUID") {
                let s = obj.str().and_then(|s| s.extract::<String>());
                let s = s.map_err(|_| Refusal::new("a UUID whose str() failed"))?;
                self.string(&s);
            } else {
                return Err(Refusal::new(format!("a value of type {}", type_name(obj))));
            }
        }
        Ok(())
    }

    fn finish(self) -> String {
        String::from_utf8(self.out).expect("the writer only writes UTF-8")
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
    let mut w = Writer { out: Vec::with_capacity(256), options: false };
    w.value(obj, 0).map_err(|r| r.into_error(key))?;
    Ok(w.finish())
}

/// Options (a dict or None) as a `serde_json::Value` for the core's option parser.
pub fn options_value(what: &str, obj: Option<&Bound<'_, PyAny>>) -> Result<serde_json::Value, Error> {
    match options_json(what, obj)? {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(&text).map_err(|e| Error::new(ErrorKind::Internal, e.to_string())),
    }
}

/// An options dict as JSON text (`None`: no options), for the core's option memos.
pub fn options_json(what: &str, obj: Option<&Bound<'_, PyAny>>) -> Result<Option<String>, Error> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => {
            let mut w = Writer { out: Vec::with_capacity(64), options: true };
            w.value(o, 0).map_err(|r| {
                let e = r.into_error(what);
                Error::new(ErrorKind::InvalidArgument, format!("{what} options: {}", e.message()))
            })?;
            String::from_utf8(w.out).map(Some).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
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
        crate::error::to_py(py, &Error::new(ErrorKind::Serialization, format!("a stored value does not convert to Python: {e}")))
    })
}
