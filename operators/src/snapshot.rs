//! Snapshot encoding: Arrow batches as IPC streams, base64 inside a versioned JSON envelope.
//!
//! An operator snapshot is JSON (readable, diffable, easy to version) whose readings and partial
//! aggregate states are Arrow IPC streams encoded as base64 strings. The envelope carries
//! [`SNAPSHOT_FORMAT`]; a snapshot written by a newer format is refused with a clear error,
//! older formats are read (format 1 is the first).

use std::io::Cursor;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;

use crate::OperatorError;

/// Current snapshot format version.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Encodes batches (all of one schema) as one IPC stream; no batches gives no bytes.
pub fn encode_batches(batches: &[RecordBatch]) -> Result<Vec<u8>, OperatorError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &first.schema())?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}

/// Decodes what [`encode_batches`] wrote.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, OperatorError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(OperatorError::from)
}

/// Serde helper: `Vec<u8>` as a base64 string.
pub mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes bytes as base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Deserializes base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{batch, rows_of};

    #[test]
    fn batches_round_trip() {
        let b = vec![batch(&[("a", 1, 2.0)]), batch(&[("b", 3, f64::NAN)])];
        let bytes = encode_batches(&b).unwrap();
        let back = decode_batches(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            format!("{:?}", rows_of(&b)),
            format!("{:?}", rows_of(&back))
        );
        assert!(decode_batches(&encode_batches(&[]).unwrap())
            .unwrap()
            .is_empty());
        assert!(decode_batches(b"garbage").is_err());
    }
}
