//! History files (CSV or JSON Lines) read into readings batches with the job's decoder.
//!
//! Used by `vigil train` (and later backtests): the same [`BatchDecoder`] as the Kafka path, so a
//! history row and a Kafka payload become identical readings.

use std::path::Path;

use vigil_operators::arrow::array::RecordBatch;
use vigil_schemas::decode::decode_csv;
use vigil_schemas::{BatchDecoder, DeadLetter};

use crate::PipelineError;

/// Lines per decoded batch for JSONL files.
const JSONL_BATCH: usize = 8192;

/// The readings of a history file.
#[derive(Debug, Default)]
pub struct History {
    /// Readings batches in file order.
    pub batches: Vec<RecordBatch>,
    /// Rows that could not be decoded (index = data row number in the file).
    pub dead: Vec<DeadLetter>,
}

impl History {
    /// Number of good readings.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Reads a `.csv` or `.jsonl`/`.json`/`.ndjson` file; with `columns` (the job's
/// `history_columns`), any headerless file of whitespace- or comma-separated fields.
pub fn read_history(
    path: &Path,
    decoder: &BatchDecoder,
    columns: &[String],
) -> Result<History, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
    if !columns.is_empty() {
        let out = decode_csv(decoder, &with_header(&text, columns))?;
        return Ok(History {
            batches: vec![out.batch],
            dead: out.dead,
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => {
            let out = decode_csv(decoder, &text)?;
            Ok(History {
                batches: vec![out.batch],
                dead: out.dead,
            })
        }
        "jsonl" | "ndjson" | "json" => Ok(decode_jsonl(&text, decoder)?),
        other => Err(PipelineError::Data(format!(
            "{}: unknown history format `.{other}` (use .csv or .jsonl)",
            path.display()
        ))),
    }
}

/// Decodes JSON Lines text in batches.
pub fn decode_jsonl(text: &str, decoder: &BatchDecoder) -> Result<History, PipelineError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut h = History::default();
    for (chunk_no, chunk) in lines.chunks(JSONL_BATCH).enumerate() {
        let out = decoder.decode(chunk.iter().map(|l| Some(l.as_bytes())))?;
        h.dead.extend(out.dead.into_iter().map(|mut d| {
            d.index += chunk_no * JSONL_BATCH;
            d
        }));
        h.batches.push(out.batch);
    }
    Ok(h)
}

/// CSV text with `columns` as its header, from a headerless file whose fields are separated by
/// whitespace or commas (C-MAPSS: single spaces and trailing blanks).
pub fn with_header(text: &str, columns: &[String]) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    out.push_str(&columns.join(","));
    out.push('\n');
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut first = true;
        for field in line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|f| !f.is_empty())
        {
            if !first {
                out.push(',');
            }
            out.push_str(field);
            first = false;
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn headerless_whitespace_files_get_the_job_header() {
        let cols = vec!["unit".to_string(), "cycle".to_string(), "s1".to_string()];
        let t = super::with_header("1 1 518.67  \n1 2 518.70  \n\n", &cols);
        assert_eq!(t, "unit,cycle,s1\n1,1,518.67\n1,2,518.70\n");
    }
}
