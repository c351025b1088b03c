//! Column builders for one readings batch; appends only fully validated records.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, TimestampMillisecondBuilder};
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
        Ok(RecordBatch::try_new(schema, cols)?)
    }
}
