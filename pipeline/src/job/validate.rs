//! Job-file validation: collects every problem, each located by line, before anything connects.

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, Table};
use vigil_operators::WindowSpec;
use vigil_schemas::decode::{
    MeasurementField, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_TS_MS, DEFAULT_MIN_TS_MS,
};
use vigil_schemas::FieldMapping;

use super::file::{JobFile, KNOWN_KEYS};
use super::{parse_duration_ms, JobConfig, KafkaSettings};

/// Maps byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        self.0.as_bytes()[..offset.min(self.0.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

struct Ctx<'a> {
    doc: Document<&'a str>,
    lines: Lines<'a>,
    problems: Vec<String>,
}

impl Ctx<'_> {
    /// Line of the key at `path` (or of the nearest table that exists).
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut table = self.doc.as_item().as_table()?;
        let mut found = None;
        for (i, key) in path.iter().enumerate() {
            let (k, item) = table.get_key_value(key)?;
            found = k.span().map(|s| self.lines.line(s.start)).or(found);
            if i + 1 < path.len() {
                table = item.as_table()?;
            }
        }
        found
    }

    fn problem(&mut self, path: &[&str], msg: impl AsRef<str>) {
        let at = path.join(".");
        let text = match self.line_of(path).or_else(|| self.line_of(&path[..1])) {
            Some(line) => format!("line {line}: `{at}`: {}", msg.as_ref()),
            None => format!("`{at}`: {}", msg.as_ref()),
        };
        self.problems.push(text);
    }

    fn duration(&mut self, path: &[&str], text: &str) -> Option<i64> {
        match parse_duration_ms(text) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.problem(path, e);
                None
            }
        }
    }
}

fn unknown_keys(table: &Table, at: &str, lines: &Lines<'_>, problems: &mut Vec<String>) {
    let known = KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == at)
        .map(|(_, keys)| *keys);
    let Some(known) = known else { return };
    for (key, item) in table.iter() {
        if !known.contains(&key) {
            let line = table
                .key(key)
                .and_then(|k| k.span())
                .map(|s| lines.line(s.start));
            let place = if at.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{at}]")
            };
            let head = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            problems.push(format!(
                "{head}unknown key `{key}` {place}; expected one of: {}",
                known.join(", ")
            ));
        } else if let Item::Table(t) = item {
            // free-form maps are not checked
            if !matches!((at, key), ("kafka", "properties") | ("fields", "rename")) {
                unknown_keys(t, key, lines, problems);
            }
        }
    }
}

fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(super) fn validate(text: &str, path: &Path) -> Result<JobConfig, Vec<String>> {
    let lines = Lines(text);
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e
                .span()
                .map(|s| format!("line {}: ", lines.line(s.start)))
                .unwrap_or_default();
            return Err(vec![format!(
                "{line}TOML syntax error: {}",
                e.message().trim()
            )]);
        }
    };
    let mut problems = Vec::new();
    if let Some(root) = doc.as_item().as_table() {
        unknown_keys(root, "", &lines, &mut problems);
    }
    let file: JobFile = match toml_edit::de::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            // unknown keys were reported above with every occurrence; add anything else
            if !e.message().contains("unknown field") || problems.is_empty() {
                let line = e
                    .span()
                    .map(|s| format!("line {}: ", lines.line(s.start)))
                    .unwrap_or_default();
                problems.push(format!("{line}{}", e.message().trim()));
            }
            return Err(problems);
        }
    };
    let mut cx = Ctx {
        doc,
        lines,
        problems,
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };

    if file.job.name.trim().is_empty() {
        cx.problem(&["job", "name"], "must not be empty");
    }

    // [kafka]
    let k = &file.kafka;
    if k.brokers.trim().is_empty() {
        cx.problem(&["kafka", "brokers"], "must list at least one host:port");
    }
    if k.group_id.trim().is_empty() {
        cx.problem(&["kafka", "group_id"], "must not be empty");
    }
    if k.input_topics.is_empty() {
        cx.problem(&["kafka", "input_topics"], "must list at least one topic");
    }
    for t in k
        .input_topics
        .iter()
        .chain([&k.alert_topic, &k.dead_letter_topic])
    {
        if !valid_topic(t) {
            cx.problem(
                &["kafka"],
                format!(
                    "`{t}` is not a valid topic name (letters, digits, `.`, `_`, `-`; at most 249)"
                ),
            );
        }
    }
    if k.input_topics.contains(&k.alert_topic) {
        cx.problem(
            &["kafka", "alert_topic"],
            "must differ from the input topics",
        );
    }
    if k.input_topics.contains(&k.dead_letter_topic) {
        cx.problem(
            &["kafka", "dead_letter_topic"],
            "must differ from the input topics",
        );
    }
    if k.alert_topic == k.dead_letter_topic {
        cx.problem(
            &["kafka", "dead_letter_topic"],
            "must differ from the alert topic",
        );
    }
    let max_batch = k.max_batch.unwrap_or(5000);
    if !(1..=1_000_000).contains(&max_batch) {
        cx.problem(&["kafka", "max_batch"], "must be between 1 and 1000000");
    }
    let batch_timeout_ms = match &k.batch_timeout {
        Some(t) => cx.duration(&["kafka", "batch_timeout"], t).unwrap_or(50),
        None => 50,
    };

    // [fields]
    let f = &file.fields;
    for col in f.rename.keys() {
        if !f.measurements.contains(col) {
            cx.problem(
                &["fields", "rename"],
                format!("renames `{col}`, which is not in `measurements`"),
            );
        }
    }
    let max_payload = f
        .max_payload_bytes
        .unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES as i64);
    if !(64..=16 << 20).contains(&max_payload) {
        cx.problem(
            &["fields", "max_payload_bytes"],
            "must be between 64 and 16777216",
        );
    }
    let mapping = FieldMapping {
        asset_field: f
            .asset_id
            .clone()
            .unwrap_or_else(|| vigil_schemas::ASSET_COL.into()),
        time_field: f
            .timestamp
            .clone()
            .unwrap_or_else(|| vigil_schemas::TS_COL.into()),
        measurements: f
            .measurements
            .iter()
            .map(|col| MeasurementField {
                source: f.rename.get(col).cloned().unwrap_or_else(|| col.clone()),
                column: col.clone(),
            })
            .collect(),
        tags: f.tags.clone(),
        min_ts_ms: DEFAULT_MIN_TS_MS,
        max_ts_ms: DEFAULT_MAX_TS_MS,
        max_payload_bytes: max_payload.max(0) as usize,
    };
    for p in mapping.validate() {
        cx.problem(&["fields", "measurements"], p);
    }
    if mapping.asset_field == mapping.time_field {
        cx.problem(&["fields", "timestamp"], "must differ from `asset_id`");
    }

    // [window]
    let w = &file.window;
    let size = cx.duration(&["window", "size"], &w.size);
    let slide = match (w.kind.as_str(), &w.slide) {
        ("tumbling", None) => size,
        ("tumbling", Some(_)) => {
            cx.problem(
                &["window", "slide"],
                "tumbling windows have no slide (use kind = \"hopping\")",
            );
            None
        }
        ("hopping", Some(s)) => cx.duration(&["window", "slide"], s),
        ("hopping", None) => {
            cx.problem(&["window", "kind"], "hopping windows need a `slide`");
            None
        }
        (other, _) => {
            cx.problem(
                &["window", "kind"],
                format!("`{other}` is not a window kind (tumbling, hopping)"),
            );
            None
        }
    };
    let window = match (size, slide) {
        (Some(size), Some(slide)) => match WindowSpec::hopping(size, slide) {
            Ok(spec) => Some(spec),
            Err(e) => {
                cx.problem(&["window", "size"], e.to_string());
                None
            }
        },
        _ => None,
    };
    let out_of_orderness_ms = match &w.allowed_out_of_orderness {
        Some(t) => cx
            .duration(&["window", "allowed_out_of_orderness"], t)
            .unwrap_or(0),
        None => 0,
    };

    // [features]
    let feature_sql_path = resolve(&file.features.sql_file);
    let feature_sql = match std::fs::read_to_string(&feature_sql_path) {
        Ok(sql) if sql.trim().is_empty() => {
            cx.problem(
                &["features", "sql_file"],
                format!("{} is empty", feature_sql_path.display()),
            );
            String::new()
        }
        Ok(sql) => sql,
        Err(e) => {
            cx.problem(
                &["features", "sql_file"],
                format!("cannot read {}: {e}", feature_sql_path.display()),
            );
            String::new()
        }
    };

    // [alerts]
    let top_features = file.alerts.top_features.unwrap_or(3);
    if !(1..=50).contains(&top_features) {
        cx.problem(&["alerts", "top_features"], "must be between 1 and 50");
    }

    match (cx.problems.is_empty(), window) {
        (true, Some(window)) => Ok(JobConfig {
            name: file.job.name.clone(),
            path: path.to_path_buf(),
            kafka: KafkaSettings {
                brokers: k.brokers.clone(),
                group_id: k.group_id.clone(),
                input_topics: k.input_topics.clone(),
                alert_topic: k.alert_topic.clone(),
                dead_letter_topic: k.dead_letter_topic.clone(),
                properties: k.properties.clone(),
                max_batch: max_batch as usize,
                batch_timeout_ms: batch_timeout_ms as u64,
            },
            mapping,
            window,
            out_of_orderness_ms,
            feature_sql_path,
            feature_sql,
            model_path: resolve(&file.model.artifact),
            top_features: top_features as usize,
            training_input: file.training.input.as_deref().map(resolve),
        }),
        _ => Err(cx.problems),
    }
}
