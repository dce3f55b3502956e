//! A small reader for the header of a GGUF file: its metadata and tensor table.
//!
//! quill reads the header itself, before llama.cpp sees the file, for two reasons: a
//! truncated or corrupt download gets a precise error ("file is 12 MB, its tensors need
//! 491 MB") instead of whatever llama.cpp makes of it, and the tokenizer used for token
//! budgets is built from the vocabulary embedded here without loading any weights.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

mod special;
pub use special::SpecialTexts;

/// What went wrong reading a GGUF header. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a GGUF model file (it starts with {magic:02x?}, not \"GGUF\")")]
    NotGguf { path: String, magic: [u8; 4] },
    #[error("{path} uses GGUF version {version}; quill reads versions 2 and 3")]
    Version { path: String, version: u32 },
    #[error("{path} has a corrupt header: {what}")]
    Corrupt { path: String, what: String },
    #[error(
        "{path} is truncated: the file is {actual} bytes but its tensors need {expected} bytes; \
         download it again (`quill models pull`)"
    )]
    Truncated {
        path: String,
        actual: u64,
        expected: u64,
    },
}

/// One metadata value. Arrays keep only what quill reads: strings and integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    StrArray(Vec<String>),
    IntArray(Vec<i64>),
    /// An array of another element type, skipped over.
    OtherArray,
}

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub metadata: HashMap<String, Value>,
    pub n_tensors: u64,
    /// Byte offset where tensor data starts.
    pub data_offset: u64,
    /// Bytes the tensor data needs after `data_offset`, from the tensor table.
    pub data_size: u64,
}

impl Header {
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.metadata.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.metadata.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn strings(&self, key: &str) -> Option<&[String]> {
        match self.metadata.get(key) {
            Some(Value::StrArray(v)) => Some(v),
            _ => None,
        }
    }

    pub fn ints(&self, key: &str) -> Option<&[i64]> {
        match self.metadata.get(key) {
            Some(Value::IntArray(v)) => Some(v),
            _ => None,
        }
    }

    pub fn architecture(&self) -> Option<&str> {
        self.str("general.architecture")
    }
}

/// Reads the header of `path` and checks that the file is long enough for its tensors.
pub fn read_header(path: &Path) -> Result<Header, GgufError> {
    let name = path.display().to_string();
    let io = |source| GgufError::Io {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let actual = file.metadata().map_err(io)?.len();
    let mut reader = Reader {
        inner: BufReader::with_capacity(1 << 20, file),
        pos: 0,
        path: &name,
        file_len: actual,
    };
    let header = reader.header()?;
    let expected = header.data_offset + header.data_size;
    if actual < expected {
        return Err(GgufError::Truncated {
            path: name,
            actual,
            expected,
        });
    }
    Ok(header)
}

struct Reader<'a, R> {
    inner: R,
    pos: u64,
    path: &'a str,
    file_len: u64,
}

// GGUF metadata value types.
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

impl<R: Read> Reader<'_, R> {
    fn corrupt(&self, what: impl Into<String>) -> GgufError {
        GgufError::Corrupt {
            path: self.path.to_string(),
            what: what.into(),
        }
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                GgufError::Truncated {
                    path: self.path.to_string(),
                    actual: self.file_len,
                    expected: self.pos + N as u64,
                }
            } else {
                GgufError::Io {
                    path: self.path.to_string(),
                    source: e,
                }
            }
        })?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        // No string in a sane header comes near this; a huge length means corruption, and
        // must not turn into a huge allocation.
        if len > 64 << 20 || self.pos + len > self.file_len {
            return Err(self.corrupt(format!("string of {len} bytes at offset {}", self.pos)));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| GgufError::Io {
            path: self.path.to_string(),
            source: e,
        })?;
        self.pos += len;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn scalar(&mut self, ty: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            T_U8 => Value::Int(self.bytes::<1>()?[0] as i64),
            T_I8 => Value::Int(self.bytes::<1>()?[0] as i8 as i64),
            T_U16 => Value::Int(u16::from_le_bytes(self.bytes()?) as i64),
            T_I16 => Value::Int(i16::from_le_bytes(self.bytes()?) as i64),
            T_U32 => Value::Int(self.u32()? as i64),
            T_I32 => Value::Int(i32::from_le_bytes(self.bytes()?) as i64),
            T_U64 => Value::Int(self.u64()? as i64),
            T_I64 => Value::Int(i64::from_le_bytes(self.bytes()?)),
            T_F32 => Value::Float(f32::from_le_bytes(self.bytes()?) as f64),
            T_F64 => Value::Float(f64::from_le_bytes(self.bytes()?)),
            T_BOOL => Value::Bool(self.bytes::<1>()?[0] != 0),
            T_STRING => Value::Str(self.string()?),
            other => return Err(self.corrupt(format!("unknown value type {other}"))),
        })
    }

    fn value(&mut self, ty: u32) -> Result<Value, GgufError> {
        if ty != T_ARRAY {
            return self.scalar(ty);
        }
        let elem = self.u32()?;
        let len = self.u64()?;
        if len > self.file_len {
            return Err(self.corrupt(format!("array of {len} elements")));
        }
        match elem {
            T_STRING => {
                let mut out = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    out.push(self.string()?);
                }
                Ok(Value::StrArray(out))
            }
            T_ARRAY => Err(self.corrupt("nested arrays")),
            _ => {
                let mut out = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    match self.scalar(elem)? {
                        Value::Int(i) => out.push(i),
                        _ => {
                            // Float or bool arrays: read and drop the rest.
                            for _ in 1..len {
                                self.scalar(elem)?;
                            }
                            return Ok(Value::OtherArray);
                        }
                    }
                }
                Ok(Value::IntArray(out))
            }
        }
    }

    fn header(&mut self) -> Result<Header, GgufError> {
        let magic = self.bytes::<4>()?;
        if &magic != b"GGUF" {
            return Err(GgufError::NotGguf {
                path: self.path.to_string(),
                magic,
            });
        }
        let version = self.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version {
                path: self.path.to_string(),
                version,
            });
        }
        let n_tensors = self.u64()?;
        let n_kv = self.u64()?;
        if n_tensors > 1 << 20 || n_kv > 1 << 20 {
            return Err(self.corrupt(format!("{n_tensors} tensors, {n_kv} metadata keys")));
        }
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = self.string()?;
            let ty = self.u32()?;
            let value = self.value(ty)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            Some(Value::Int(a)) if *a > 0 => *a as u64,
            _ => 32,
        };
        let mut data_size = 0u64;
        for _ in 0..n_tensors {
            let name = self.string()?;
            let n_dims = self.u32()?;
            if n_dims > 8 {
                return Err(self.corrupt(format!("tensor {name} has {n_dims} dimensions")));
            }
            let mut elements = 1u64;
            for _ in 0..n_dims {
                elements = elements.saturating_mul(self.u64()?);
            }
            let ty = self.u32()?;
            let offset = self.u64()?;
            let bytes = tensor_bytes(ty, elements)
                .ok_or_else(|| self.corrupt(format!("tensor {name} has unknown type {ty}")))?;
            data_size = data_size.max(offset.saturating_add(bytes));
        }
        let data_offset = self.pos.div_ceil(alignment) * alignment;
        Ok(Header {
            version,
            metadata,
            n_tensors,
            data_offset,
            data_size,
        })
    }
}

/// Bytes a tensor of `elements` values of ggml type `ty` takes, for the types GGUF files
/// carry. `None` for a type this table does not know.
fn tensor_bytes(ty: u32, elements: u64) -> Option<u64> {
    // (block size, bytes per block), from ggml's type traits.
    let (block, size) = match ty {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        9 => (32, 36),    // Q8_1
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        15 => (256, 292), // Q8_K
        16 => (256, 66),  // IQ2_XXS
        17 => (256, 74),  // IQ2_XS
        18 => (256, 98),  // IQ3_XXS
        19 => (256, 50),  // IQ1_S
        20 => (32, 18),   // IQ4_NL
        21 => (256, 110), // IQ3_S
        22 => (256, 82),  // IQ2_S
        23 => (256, 136), // IQ4_XS
        24 => (1, 1),     // I8
        25 => (1, 2),     // I16
        26 => (1, 4),     // I32
        27 => (1, 8),     // I64
        28 => (1, 8),     // F64
        29 => (256, 56),  // IQ1_M
        30 => (1, 2),     // BF16
        34 => (256, 54),  // TQ1_0
        35 => (256, 66),  // TQ2_0
        39 => (32, 17),   // MXFP4
        _ => return None,
    };
    Some(elements.div_ceil(block) * size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a tiny but well-formed GGUF file: two metadata keys and one F32 tensor.
    pub(crate) fn tiny_gguf(tensor_elems: u64, write_data: bool) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&2u64.to_le_bytes()); // kv
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend_from_slice(&T_STRING.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&T_ARRAY.to_le_bytes());
        b.extend_from_slice(&T_STRING.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        s(&mut b, "a");
        s(&mut b, "b");
        s(&mut b, "w");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&tensor_elems.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // F32
        b.extend_from_slice(&0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        if write_data {
            b.extend(std::iter::repeat_n(0u8, tensor_elems as usize * 4));
        }
        f.write_all(&b).unwrap();
        f
    }

    #[test]
    fn reads_metadata_and_sizes() {
        let f = tiny_gguf(16, true);
        let h = read_header(f.path()).unwrap();
        assert_eq!(h.architecture(), Some("llama"));
        assert_eq!(h.strings("tokenizer.ggml.tokens").unwrap(), ["a", "b"]);
        assert_eq!(h.data_size, 64);
        assert_eq!(h.data_offset % 32, 0);
    }

    #[test]
    fn truncated_file_is_reported_with_sizes() {
        let f = tiny_gguf(1000, false);
        let err = read_header(f.path()).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        assert!(err.contains("192 bytes") && err.contains("4192"), "{err}");
    }

    #[test]
    fn non_gguf_file_is_named() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"<html>not a model</html>").unwrap();
        let err = read_header(f.path()).unwrap_err().to_string();
        assert!(err.contains("not a GGUF model file"), "{err}");
    }

    #[test]
    fn empty_file_is_truncated_not_a_panic() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = read_header(f.path()).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn header_cut_in_the_middle_is_reported() {
        let full = tiny_gguf(16, true);
        let bytes = std::fs::read(full.path()).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes[..40]).unwrap();
        let err = read_header(f.path()).unwrap_err().to_string();
        assert!(
            err.contains("truncated") || err.contains("corrupt"),
            "{err}"
        );
    }
}
