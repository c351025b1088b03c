//! Duplicate readings: the same asset, event time and measurement values seen twice.
//!
//! When a job asks for deduplication, each accepted reading's identity (a 64-bit SipHash of the
//! asset id, the event time, the bit patterns of every measurement value and waveform sample,
//! tags excluded) is
//! remembered in a bucket of its event time. A bucket is forgotten once every window that could
//! contain its readings has closed: a later copy of such a reading is late anyway, so forgetting
//! changes no result. (Two different readings colliding on 64 bits is the only way a distinct
//! reading could be dropped as a duplicate; with a million readings per bucket the chance is
//! about 3 in 10^8.)

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};
use vigil_schemas::ASSET_COL;

/// Remembered reading identities, bucketed by event time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Dedup {
    bucket_ms: i64,
    buckets: BTreeMap<i64, HashSet<u64>>,
}

impl Dedup {
    /// Remembers identities in buckets of `bucket_ms` of event time.
    pub fn new(bucket_ms: i64) -> Self {
        Dedup {
            bucket_ms: bucket_ms.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// Records a reading; returns false when the same reading was recorded before.
    pub fn first_time(&mut self, ts: i64, identity: u64) -> bool {
        self.buckets
            .entry(ts.div_euclid(self.bucket_ms))
            .or_default()
            .insert(identity)
    }

    /// Forgets readings stamped before `ts` (all their windows have closed).
    pub fn forget_before(&mut self, ts: i64) {
        let keep_from = ts.div_euclid(self.bucket_ms);
        self.buckets = self.buckets.split_off(&keep_from);
    }

    /// Identities remembered.
    pub fn len(&self) -> usize {
        self.buckets.values().map(HashSet::len).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// The identity of every row of a readings batch (see the module doc).
pub fn row_identities(batch: &RecordBatch, ts: &[i64]) -> Vec<u64> {
    let assets = batch
        .column_by_name(ASSET_COL)
        .and_then(|c| c.as_string_opt::<i32>());
    let values: Vec<_> = batch
        .columns()
        .iter()
        .filter(|c| c.data_type() == &DataType::Float64)
        .map(|c| c.as_primitive::<Float64Type>())
        .collect();
    let lists: Vec<_> = batch
        .columns()
        .iter()
        .filter_map(|c| c.as_list_opt::<i32>())
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            let mut h = std::hash::DefaultHasher::new();
            if let Some(a) = assets {
                a.value(r).hash(&mut h);
            }
            ts[r].hash(&mut h);
            for v in &values {
                if v.is_valid(r) {
                    v.value(r).to_bits().hash(&mut h);
                } else {
                    0x7ff8_dead_u64.hash(&mut h);
                }
            }
            for l in &lists {
                if l.is_valid(r) {
                    let item = l.value(r);
                    if let Some(f) = item.as_primitive_opt::<Float64Type>() {
                        f.len().hash(&mut h);
                        f.values().iter().for_each(|x| x.to_bits().hash(&mut h));
                    }
                }
            }
            h.finish()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::batch;

    #[test]
    fn same_reading_same_identity_different_value_differs() {
        let b = batch(&[("a", 1, 2.0), ("a", 1, 2.0), ("a", 1, 2.5), ("b", 1, 2.0)]);
        let ids = row_identities(&b, &[1, 1, 1, 1]);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3]);
        let mut d = Dedup::new(10);
        assert!(d.first_time(1, ids[0]));
        assert!(!d.first_time(1, ids[1]));
        assert!(d.first_time(15, ids[0]), "other bucket");
        d.forget_before(10);
        assert_eq!(d.len(), 1);
    }
}
