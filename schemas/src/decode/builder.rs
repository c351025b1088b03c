//! Column builders for one readings batch; appends only fully validated records.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::json::Scratch;
use super::FieldMapping;
use crate::SchemaError;

pub(super) struct ColumnsBuilder {
    asset: StringBuilder,
    ts: TimestampMillisecondBuilder,
    measurements: Vec<Float64Builder>,
    tags: Vec<StringBuilder>,
    wave_samples: Vec<ListBuilder<Float64Builder>>,
    wave_rates: Vec<Float64Builder>,
}

impl ColumnsBuilder {
    pub(super) fn new(mapping: &FieldMapping, capacity: usize) -> Self {
        ColumnsBuilder {
            asset: StringBuilder::with_capacity(capacity, capacity * 8),
            ts: TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            measurements: mapping
                .measurements
                .iter()
                .map(|_| Float64Builder::with_capacity(capacity))
                .collect(),
            tags: mapping.tags.iter().map(|_| StringBuilder::new()).collect(),
            wave_samples: mapping
                .waveforms
                .iter()
                .map(|_| ListBuilder::new(Float64Builder::new()))
                .collect(),
            wave_rates: mapping
                .waveforms
                .iter()
                .map(|_| Float64Builder::with_capacity(capacity))
                .collect(),
        }
    }

    pub(super) fn append(&mut self, s: &Scratch) {
        self.asset.append_value(&s.asset);
        self.ts.append_value(s.ts);
        for (b, v) in self.measurements.iter_mut().zip(&s.values) {
            b.append_option(*v);
        }
        for (b, v) in self.tags.iter_mut().zip(&s.tags) {
            b.append_option(v.as_deref());
        }
        for (i, rate) in s.wave_rate.iter().enumerate() {
            match rate {
                Some(r) => {
                    self.wave_samples[i]
                        .values()
                        .append_slice(&s.wave_samples[i]);
                    self.wave_samples[i].append(true);
                    self.wave_rates[i].append_value(*r);
                }
                None => {
                    self.wave_samples[i].append(false);
                    self.wave_rates[i].append_null();
                }
            }
        }
    }

    pub(super) fn finish(mut self, schema: SchemaRef) -> Result<RecordBatch, SchemaError> {
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.asset.finish()), Arc::new(self.ts.finish())];
        cols.extend(
            self.measurements
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols.extend(
            self.tags
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        for (s, r) in self.wave_samples.iter_mut().zip(self.wave_rates.iter_mut()) {
            // the list's item field must match the schema's (nullable Float64 "item")
            cols.push(Arc::new(s.finish()) as ArrayRef);
            cols.push(Arc::new(r.finish()) as ArrayRef);
        }
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}
