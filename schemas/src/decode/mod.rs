//! Batch decoding of raw payloads into Arrow readings batches.
//!
//! Owns the [`FieldMapping`] (which JSON keys hold the asset, the event time, the measurements and
//! tags), the [`BatchDecoder`] that turns a batch of Kafka payloads into one [`RecordBatch`], and
//! the [`DeadLetter`]s for payloads that cannot be decoded, each with a [`RejectReason`].
//! No `serde_json::Value` is built per reading: JSON is visited once and appended to column
//! builders; a record is appended only after it validated completely, so columns stay aligned.

mod builder;
mod csv;
mod fast;
mod json;
mod reject;
mod shape;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

pub use self::csv::{csv_separator, decode_csv, decode_csv_for};
pub use reject::RejectReason;

use crate::{SchemaError, ASSET_COL, TS_COL};
use builder::ColumnsBuilder;

/// Default lower bound of accepted event times: 2000-01-01T00:00:00Z.
pub const DEFAULT_MIN_TS_MS: i64 = 946_684_800_000;
/// Default upper bound of accepted event times: 2100-01-01T00:00:00Z.
pub const DEFAULT_MAX_TS_MS: i64 = 4_102_444_800_000;
/// Default largest number of samples in one waveform snapshot.
pub const DEFAULT_MAX_WAVEFORM_SAMPLES: usize = 65_536;
/// Field metadata key marking the columns of a waveform (`samples` or `rate`), which are not
/// scalar measurements.
pub const WAVEFORM_META: &str = "vigil.waveform";
/// Suffix of the sample-rate column of a waveform.
pub const RATE_SUFFIX: &str = "_rate_hz";

/// True for a scalar measurement column (`Float64`, not part of a waveform).
pub fn is_measurement(field: &Field) -> bool {
    field.data_type() == &DataType::Float64 && !field.metadata().contains_key(WAVEFORM_META)
}

/// Default largest accepted payload, in bytes.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// One measurement the job reads: the key in the payload and the column it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementField {
    /// Key in the payload (inside the `measurements` object, or at the top level).
    pub source: String,
    /// Column name in the readings table the feature SQL sees.
    pub column: String,
}

/// Where the decoder finds each part of a reading in a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// Top-level key holding the asset id (a string, or an integer that is turned into one).
    pub asset_field: String,
    /// Top-level key holding the event time (epoch milliseconds or RFC 3339 string).
    pub time_field: String,
    /// Measurements to keep, in column order.
    pub measurements: Vec<MeasurementField>,
    /// Tag keys (inside the `tags` object, or at the top level) kept as string columns.
    pub tags: Vec<String>,
    /// Waveform snapshots (keys inside the `waveforms` object): each becomes a column `<name>`
    /// (list of samples) and a column `<name>_rate_hz` (sample rate).
    pub waveforms: Vec<String>,
    /// Snapshots with more samples are rejected.
    pub max_waveform_samples: usize,
    /// Event times outside `[min_ts_ms, max_ts_ms)` are rejected.
    pub min_ts_ms: i64,
    /// See `min_ts_ms`.
    pub max_ts_ms: i64,
    /// Payloads longer than this are rejected unread.
    pub max_payload_bytes: usize,
    /// How a numeric event time is read: `origin_ms + value · unit_ms` (default: epoch ms).
    pub numeric_time: NumericTime,
    /// Reject a payload with a field the mapping does not name (`unknown_field`), instead of
    /// ignoring it.
    pub forbid_unknown: bool,
}

/// The meaning of a numeric event time: a count of `unit_ms` since `origin_ms`. The default
/// (`0`, `1`) is epoch milliseconds; a counter such as an engine cycle number can be read as, for
/// example, one second per cycle from 2000-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericTime {
    /// Event time of the value 0, UTC ms.
    pub origin_ms: i64,
    /// Milliseconds per unit of the value.
    pub unit_ms: i64,
}

impl Default for NumericTime {
    fn default() -> Self {
        NumericTime {
            origin_ms: 0,
            unit_ms: 1,
        }
    }
}

impl NumericTime {
    /// The event time (UTC ms) of a numeric value, `None` on overflow.
    pub fn to_ms(self, value: i64) -> Option<i64> {
        value.checked_mul(self.unit_ms)?.checked_add(self.origin_ms)
    }
}

impl FieldMapping {
    /// The canonical mapping of [`crate::Reading`] with the given measurement names.
    pub fn canonical<S: AsRef<str>>(measurements: &[S], tags: &[S]) -> Self {
        FieldMapping {
            asset_field: ASSET_COL.to_string(),
            time_field: TS_COL.to_string(),
            measurements: measurements
                .iter()
                .map(|m| MeasurementField {
                    source: m.as_ref().to_string(),
                    column: m.as_ref().to_string(),
                })
                .collect(),
            tags: tags.iter().map(|t| t.as_ref().to_string()).collect(),
            waveforms: Vec::new(),
            max_waveform_samples: DEFAULT_MAX_WAVEFORM_SAMPLES,
            min_ts_ms: DEFAULT_MIN_TS_MS,
            max_ts_ms: DEFAULT_MAX_TS_MS,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            numeric_time: NumericTime::default(),
            forbid_unknown: false,
        }
    }

    /// Checks the mapping; returns every problem found.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.measurements.is_empty() && self.waveforms.is_empty() {
            errs.push("at least one measurement or waveform must be mapped".to_string());
        }
        let mut seen = HashMap::new();
        let wave_cols: Vec<String> = self
            .waveforms
            .iter()
            .flat_map(|w| [w.clone(), format!("{w}{RATE_SUFFIX}")])
            .collect();
        for col in self
            .measurements
            .iter()
            .map(|m| &m.column)
            .chain(self.tags.iter())
            .chain(wave_cols.iter())
        {
            if col == ASSET_COL || col == TS_COL {
                errs.push(format!("column name `{col}` is reserved"));
            }
            if seen.insert(col.clone(), ()).is_some() {
                errs.push(format!("column `{col}` is mapped twice"));
            }
        }
        let mut sources = HashMap::new();
        for m in &self.measurements {
            if sources.insert(m.source.clone(), ()).is_some() {
                errs.push(format!("measurement source `{}` is mapped twice", m.source));
            }
        }
        if self.min_ts_ms >= self.max_ts_ms {
            errs.push("min event time must be before max event time".to_string());
        }
        errs
    }

    /// Arrow schema of the readings batches this mapping produces.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new(ASSET_COL, DataType::Utf8, false),
            Field::new(
                TS_COL,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ];
        fields.extend(
            self.measurements
                .iter()
                .map(|m| Field::new(&m.column, DataType::Float64, true)),
        );
        fields.extend(
            self.tags
                .iter()
                .map(|t| Field::new(t, DataType::Utf8, true)),
        );
        for w in &self.waveforms {
            let meta: HashMap<String, String> = [(WAVEFORM_META.to_string(), w.clone())].into();
            fields.push(
                Field::new(
                    w,
                    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                    true,
                )
                .with_metadata(meta.clone()),
            );
            fields.push(
                Field::new(format!("{w}{RATE_SUFFIX}"), DataType::Float64, true)
                    .with_metadata(meta),
            );
        }
        Arc::new(Schema::new(fields))
    }
}

/// A payload that could not be decoded, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Index of the payload in the decoded batch (maps back to its Kafka coordinates).
    pub index: usize,
    /// The class of the problem (also a metric label).
    pub reason: RejectReason,
    /// Human-readable detail: which field, what was found.
    pub detail: String,
}

/// The result of decoding one batch of payloads.
#[derive(Debug)]
pub struct DecodeOutcome {
    /// The good readings, one row each.
    pub batch: RecordBatch,
    /// For each row of `batch`, the index of the payload it came from.
    pub rows: Vec<u32>,
    /// The payloads that were rejected.
    pub dead: Vec<DeadLetter>,
}

/// Decodes batches of JSON payloads into Arrow readings batches with a fixed [`FieldMapping`].
#[derive(Debug)]
pub struct BatchDecoder {
    mapping: FieldMapping,
    schema: SchemaRef,
    measurement_index: SlotIndex,
    tag_index: SlotIndex,
    waveform_index: SlotIndex,
    /// Whether the byte scanner is tried before the serde visitor (see `fast.rs`).
    fast_path: bool,
    /// Whether the fast path first tries the layout of recent payloads ([`shape`]).
    shapes: bool,
    /// No mapped field is called `measurements`, `tags` or `waveforms`, so the scanner may
    /// look for those keys before the mapped names.
    nested_first: bool,
}

impl BatchDecoder {
    /// Builds a decoder; fails if the mapping is invalid.
    pub fn new(mapping: FieldMapping) -> Result<Self, SchemaError> {
        let errs = mapping.validate();
        if !errs.is_empty() {
            return Err(SchemaError::InvalidMapping(errs.join("; ")));
        }
        let measurement_index = mapping
            .measurements
            .iter()
            .enumerate()
            .map(|(i, m)| (m.source.clone(), i))
            .collect();
        let tag_index = mapping
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        let waveform_index = mapping
            .waveforms
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        let schema = mapping.arrow_schema();
        let nested_first = ["measurements", "tags", "waveforms"].iter().all(|k| {
            *k != mapping.asset_field
                && *k != mapping.time_field
                && !mapping.measurements.iter().any(|m| m.source == *k)
                && !mapping.tags.iter().any(|t| t == k)
        });
        Ok(BatchDecoder {
            mapping,
            schema,
            measurement_index,
            tag_index,
            waveform_index,
            fast_path: true,
            shapes: true,
            nested_first,
        })
    }

    /// The same decoder without the byte scanner's fast path: every payload goes through the
    /// serde visitor. Same output, slower; for `vigil bench decode` and for ruling the scanner
    /// out when a payload decodes unexpectedly.
    pub fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// The same decoder whose fast path is the byte scanner alone, without first matching the
    /// layout of recent payloads. Same output; for `vigil bench decode`.
    pub fn without_shapes(mut self) -> Self {
        self.shapes = false;
        self
    }

    /// The schema of produced batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The mapping this decoder applies.
    pub fn mapping(&self) -> &FieldMapping {
        &self.mapping
    }

    /// Decodes a batch of payloads (`None` = a Kafka record with no value).
    pub fn decode<'a, I>(&self, payloads: I) -> Result<DecodeOutcome, SchemaError>
    where
        I: IntoIterator<Item = Option<&'a [u8]>>,
    {
        let iter = payloads.into_iter();
        let mut cols = ColumnsBuilder::new(&self.mapping, iter.size_hint().0);
        let mut rows = Vec::with_capacity(iter.size_hint().0);
        let mut dead = Vec::new();
        let mut scratch = json::Scratch::new(
            self.mapping.measurements.len(),
            self.mapping.tags.len(),
            self.mapping.waveforms.len(),
        );
        for (index, payload) in iter.enumerate() {
            match json::decode_one(self, payload, &mut scratch) {
                Ok(()) => {
                    cols.append(&scratch);
                    rows.push(index as u32);
                }
                Err((reason, detail)) => dead.push(DeadLetter {
                    index,
                    reason,
                    detail,
                }),
            }
        }
        Ok(DecodeOutcome {
            batch: cols.finish(self.schema.clone())?,
            rows,
            dead,
        })
    }

    pub(crate) fn fast_path(&self) -> bool {
        self.fast_path
    }

    pub(crate) fn shapes(&self) -> bool {
        self.shapes
    }

    pub(crate) fn nested_first(&self) -> bool {
        self.nested_first
    }

    pub(crate) fn measurement_slot(&self, key: &str) -> Option<usize> {
        self.measurement_index.get(key).copied()
    }

    pub(crate) fn waveform_slot(&self, key: &str) -> Option<usize> {
        self.waveform_index.get(key).copied()
    }

    pub(crate) fn tag_slot(&self, key: &str) -> Option<usize> {
        self.tag_index.get(key).copied()
    }
}

/// Field name -> slot. Looked up once per field of every record, so hashed with foldhash: SipHash
/// was an eighth of the job thread in `vigil bench kafka` (no DoS concern: the keys are the job's
/// own mapping).
type SlotIndex = HashMap<String, usize, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests;
