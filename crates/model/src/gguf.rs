//! Reading GGUF files: the header through candle's reader, then typed metadata accessors and
//! bounds-checked tensor reads.
//!
//! candle-core 0.11.1 already bounds every length in the header by the file size, but it still
//! divides by `general.alignment` without checking for zero and multiplies tensor dimensions
//! without overflow checks. The first is contained with `catch_unwind` around the header read;
//! the second never runs, because [`GgufFile::tensor`] compares a tensor's dimensions with the
//! ones the hyperparameters imply before asking candle to read it.

use std::{
    fs::File,
    io::BufReader,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use candle_core::{
    Device,
    quantized::{
        QTensor,
        gguf_file::{Content, Value},
    },
};

use crate::error::{Error, Result};

/// An open GGUF file: its parsed header and a reader positioned anywhere.
pub(crate) struct GgufFile {
    path: PathBuf,
    reader: BufReader<File>,
    content: Content,
}

impl GgufFile {
    /// Opens `path` and parses the header, metadata and tensor directory.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io)?;
        let mut reader = BufReader::new(file);
        // candle's reader panics on `general.alignment = 0` (a division by zero after the
        // tensor directory); the reader is dropped on any failure, so unwinding past it is fine.
        let read = catch_unwind(AssertUnwindSafe(|| Content::read(&mut reader)));
        let content = match read {
            Ok(Ok(content)) => content,
            Ok(Err(err)) => return Err(malformed(err)),
            Err(_) => {
                return Err(Error::Malformed {
                    reason: "the gguf reader rejected the header (zero alignment?)".to_owned(),
                });
            }
        };
        Ok(Self { path: path.to_owned(), reader, content })
    }

    /// The file's path, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The raw metadata value of `key`, if present.
    pub(crate) fn value(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A required string.
    pub(crate) fn string(&self, key: &str) -> Result<&str> {
        self.string_opt(key)?.ok_or_else(|| missing(key))
    }

    /// An optional string.
    pub(crate) fn string_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(key, format!("expected a string, found {:?}", kind(other)))),
        }
    }

    /// An optional non-negative integer that fits in `u32` (any integer type is accepted).
    pub(crate) fn u32_opt(&self, key: &str) -> Result<Option<u32>> {
        self.value(key).map(|v| integer(v).ok_or_else(|| not_u32(key, v))).transpose()
    }

    /// An optional float (`f32` or `f64` in the file).
    pub(crate) fn f32_opt(&self, key: &str) -> Result<Option<f32>> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::F32(v)) => Ok(Some(*v)),
            Some(Value::F64(v)) => Ok(Some(*v as f32)),
            Some(other) => Err(invalid(key, format!("expected a float, found {:?}", kind(other)))),
        }
    }

    /// A required array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<&str>> {
        let values = self.array(key)?;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(invalid(key, format!("element {i} is a {:?}", kind(other)))),
            })
            .collect()
    }

    /// An optional array of small integers (token types).
    pub(crate) fn integers_opt(&self, key: &str) -> Result<Option<Vec<u32>>> {
        if self.value(key).is_none() {
            return Ok(None);
        }
        let values = self.array(key)?;
        let ints = values.iter().enumerate().map(|(i, v)| {
            integer(v).ok_or_else(|| invalid(key, format!("element {i} is not a small integer")))
        });
        ints.collect::<Result<Vec<_>>>().map(Some)
    }

    fn array(&self, key: &str) -> Result<&[Value]> {
        match self.value(key) {
            None => Err(missing(key)),
            Some(Value::Array(values)) => Ok(values),
            Some(other) => Err(invalid(key, format!("expected an array, found {:?}", kind(other)))),
        }
    }

    /// True when the file lists a tensor called `name`.
    pub(crate) fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// Reads tensor `name`, after checking that its shape is `expected` (rows first, as candle
    /// reports it). Checking first keeps hostile dimensions away from candle's arithmetic.
    pub(crate) fn tensor(&mut self, name: &str, expected: &[usize]) -> Result<QTensor> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::MissingTensor { name: name.to_owned() })?;
        let actual = info.shape.dims();
        if actual != expected {
            return Err(Error::TensorShape {
                name: name.to_owned(),
                expected: expected.to_vec(),
                actual: actual.to_vec(),
            });
        }
        info.read(&mut self.reader, self.content.tensor_data_offset, &Device::Cpu)
            .map_err(|source| Error::TensorData { name: name.to_owned(), source })
    }
}

fn malformed(err: candle_core::Error) -> Error {
    Error::Malformed { reason: err.to_string() }
}

fn missing(key: &str) -> Error {
    Error::MissingMetadata { key: key.to_owned() }
}

fn invalid(key: &str, reason: String) -> Error {
    Error::InvalidMetadata { key: key.to_owned(), reason }
}

fn not_u32(key: &str, value: &Value) -> Error {
    invalid(key, format!("expected an integer in 0..=u32::MAX, found {:?}", kind_value(value)))
}

/// Any integer value that fits in `u32`.
fn integer(value: &Value) -> Option<u32> {
    match *value {
        Value::U8(v) => Some(u32::from(v)),
        Value::U16(v) => Some(u32::from(v)),
        Value::U32(v) => Some(v),
        Value::U64(v) => u32::try_from(v).ok(),
        Value::I8(v) => u32::try_from(v).ok(),
        Value::I16(v) => u32::try_from(v).ok(),
        Value::I32(v) => u32::try_from(v).ok(),
        Value::I64(v) => u32::try_from(v).ok(),
        _ => None,
    }
}

/// A short name of a value's type for messages (never the value itself: it may be huge).
fn kind(value: &Value) -> candle_core::quantized::gguf_file::ValueType {
    value.value_type()
}

/// Small scalars are shown whole; anything else only by type.
fn kind_value(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Array(_) => format!("{:?}", value.value_type()),
        scalar => format!("{scalar:?}"),
    }
}
