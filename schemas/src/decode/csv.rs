//! Decoding of history files in CSV (header row; `,` or `;` separated, detected from the
//! header; no embedded separators) into the same readings batches as the Kafka path, for
//! `vigil train`, `vigil features` and backtests. A file without an asset column (one machine per
//! file, as in SKAB) takes its asset id from the caller.

use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;

use super::builder::ColumnsBuilder;
use super::json::Scratch;
use super::{BatchDecoder, DeadLetter, DecodeOutcome, RejectReason};
use crate::SchemaError;

/// Decodes CSV text whose header names the mapping's fields. Rows that cannot be decoded become
/// dead letters whose `index` is the 0-based data row number.
pub fn decode_csv(dec: &BatchDecoder, text: &str) -> Result<DecodeOutcome, SchemaError> {
    decode_csv_for(dec, text, None)
}

/// The separator of a CSV header line: `;` when it has more of those than commas.
pub fn csv_separator(header: &str) -> char {
    if header.matches(';').count() > header.matches(',').count() {
        ';'
    } else {
        ','
    }
}

/// Like [`decode_csv`]; when the header has no asset column, every row belongs to
/// `default_asset` (an error if that is `None` too).
pub fn decode_csv_for(
    dec: &BatchDecoder,
    text: &str,
    default_asset: Option<&str>,
) -> Result<DecodeOutcome, SchemaError> {
    let m = dec.mapping();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let sep = csv_separator(first);
    let header: Vec<&str> = first.split(sep).map(clean).collect();
    let find = |name: &str| header.iter().position(|h| *h == name);
    let asset_col = find(&m.asset_field);
    if asset_col.is_none() && default_asset.is_none() {
        return Err(SchemaError::InvalidMapping(format!(
            "CSV header has no `{}` column",
            m.asset_field
        )));
    }
    let ts_col = find(&m.time_field).ok_or_else(|| {
        SchemaError::InvalidMapping(format!("CSV header has no `{}` column", m.time_field))
    })?;
    let meas_cols: Vec<Option<usize>> = m.measurements.iter().map(|f| find(&f.source)).collect();
    let tag_cols: Vec<Option<usize>> = m.tags.iter().map(|t| find(t)).collect();
    if meas_cols.iter().all(Option::is_none) {
        return Err(SchemaError::InvalidMapping(
            "CSV header has none of the mapped measurements".into(),
        ));
    }

    let mut cols = ColumnsBuilder::new(m, 1024);
    let mut rows = Vec::new();
    let mut dead = Vec::new();
    let mut scratch = Scratch::new(m.measurements.len(), m.tags.len(), m.waveforms.len());
    let mut fields: Vec<&str> = Vec::with_capacity(header.len());
    for (index, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        fields.clear();
        fields.extend(line.split(sep).map(clean));
        let get = |c: usize| fields.get(c).copied().unwrap_or("");
        let result = (|| -> Result<(), (RejectReason, String)> {
            let asset = match asset_col {
                Some(c) => get(c),
                None => default_asset.unwrap_or_default(),
            };
            if asset.is_empty() {
                return Err((
                    RejectReason::MissingAssetId,
                    format!("column `{}` is empty", m.asset_field),
                ));
            }
            let ts_text = get(ts_col);
            let ts = match ts_text.parse::<i64>() {
                Ok(n) => m.numeric_time.to_ms(n).ok_or_else(|| {
                    (
                        RejectReason::BadTimestamp,
                        format!("`{ts_text}` is out of range"),
                    )
                })?,
                Err(_) => string_to_timestamp_nanos(ts_text)
                    .map(|ns| ns.div_euclid(1_000_000))
                    .map_err(|_| {
                        (
                            RejectReason::BadTimestamp,
                            format!("`{ts_text}` is neither epoch ms nor RFC 3339"),
                        )
                    })?,
            };
            let mut values = Vec::with_capacity(meas_cols.len());
            for (f, c) in m.measurements.iter().zip(&meas_cols) {
                let text = c.map(get).unwrap_or("");
                if text.is_empty() {
                    values.push(None);
                    continue;
                }
                let v: f64 = text.parse().map_err(|_| {
                    (
                        RejectReason::WrongType,
                        format!("measurement `{}`: `{text}` is not a number", f.source),
                    )
                })?;
                if !v.is_finite() {
                    return Err((
                        RejectReason::NonFinite,
                        format!("measurement `{}` is not finite", f.source),
                    ));
                }
                values.push(Some(v));
            }
            let tags = tag_cols
                .iter()
                .map(|c| c.map(get).filter(|t| !t.is_empty()).map(str::to_string))
                .collect();
            scratch.set(asset, ts, values, tags);
            scratch.check(m)
        })();
        match result {
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
        batch: cols.finish(dec.schema())?,
        rows,
        dead,
    })
}

fn clean(field: &str) -> &str {
    field.trim().trim_matches('"')
}
