//! Snapshot encoding: Arrow batches as IPC streams, base64 inside a versioned JSON envelope.
//!
//! An operator snapshot is JSON (readable, diffable, easy to version) whose readings and partial
//! aggregate states are Arrow IPC streams encoded as base64 strings. The envelope carries
//! [`SNAPSHOT_FORMAT`]; a snapshot written by a newer format is refused with a clear error,
//! older formats are read (format 1 is the first).
//!
//! **Incremental snapshots** ([`Parts`]): the bulk of the state (readings buffered in open
//! panes, partial aggregate states, per-asset state) is append-mostly, so a commit need not
//! write all of it again. A state owner writes a small *head* (JSON) that names its *segments*,
//! and hands out as [`Parts::put`] only the segments created since the last snapshot; segments
//! are immutable once written (new data gets a new name), and [`Parts::live`] lists every
//! segment the head refers to, so whoever stores them can drop the rest.

use std::collections::HashMap;
use std::io::Cursor;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;

use crate::OperatorError;

/// Current snapshot format version (2 added incremental snapshots).
pub const SNAPSHOT_FORMAT: u32 = 2;

/// Largest segment [`encode_segments`] makes (well under the changelog record limit).
pub const SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// What an incremental snapshot adds: segments created since the previous one, and the names of
/// all segments its head refers to.
#[derive(Debug, Default)]
pub struct Parts {
    /// New segments, name and bytes, in creation order.
    pub put: Vec<(String, Vec<u8>)>,
    /// Every segment the head refers to (new or not).
    pub live: Vec<String>,
}

/// Encodes `batches` as one or more IPC segments of at most about [`SEGMENT_BYTES`] each,
/// named `<prefix>.<n>` with `n` counting up from `*next`, and queues them on [`Parts::put`];
/// returns the names (the caller lists them in [`Parts::live`] with its older ones).
pub fn encode_segments(
    batches: &[RecordBatch],
    prefix: &str,
    next: &mut u32,
    parts: &mut Parts,
) -> Result<Vec<String>, OperatorError> {
    let mut names = Vec::new();
    let mut from = 0;
    while from < batches.len() {
        let mut to = from;
        let mut size = 0;
        while to < batches.len() && (to == from || size < SEGMENT_BYTES) {
            size += batches[to].get_array_memory_size();
            to += 1;
        }
        let name = format!("{prefix}.{next}");
        *next += 1;
        parts
            .put
            .push((name.clone(), encode_batches(&batches[from..to])?));
        names.push(name);
        from = to;
    }
    Ok(names)
}

/// Segments by name, as read back from where they were stored.
pub type Segments = HashMap<String, Vec<u8>>;

/// Decodes the segments `names` into their batches, in order.
pub fn decode_segments(
    names: &[String],
    segments: &Segments,
) -> Result<Vec<RecordBatch>, OperatorError> {
    let mut out = Vec::new();
    for n in names {
        let b = segments
            .get(n)
            .ok_or_else(|| OperatorError::Snapshot(format!("snapshot segment `{n}` is missing")))?;
        out.extend(decode_batches(b)?);
    }
    Ok(out)
}

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

    #[test]
    fn segments_split_and_decode_in_order() {
        let b: Vec<_> = (0..5).map(|i| batch(&[("a", i, i as f64)])).collect();
        let mut parts = Parts::default();
        let mut next = 7;
        let names = encode_segments(&b, "p", &mut next, &mut parts).unwrap();
        assert_eq!(names, vec!["p.7".to_string()]);
        assert_eq!(next, 8);
        assert_eq!(parts.put.len(), 1);
        let store: Segments = parts.put.into_iter().collect();
        let back = decode_segments(&names, &store).unwrap();
        assert_eq!(
            format!("{:?}", rows_of(&b)),
            format!("{:?}", rows_of(&back))
        );
        let missing = decode_segments(&["p.9".to_string()], &store).unwrap_err();
        assert!(missing.to_string().contains("p.9"), "{missing}");
    }
}
