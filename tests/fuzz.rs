//! Fuzzing the two parsers that see untrusted text: the readings decoder (every Kafka payload)
//! and the job-file parser. Each runs a million proptest cases (override with `VIGIL_FUZZ_CASES`):
//! valid inputs mutated by truncation, byte flips, inserted JSON/TOML tokens and invalid UTF-8,
//! plus purely random bytes. Neither may panic; the decoder must turn every payload into exactly
//! one row or one dead letter, and accepted rows carry only finite values; the job parser must
//! return a job or a list of problems.

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use vigil_operators::arrow::array::{Array, Float64Array};
use vigil_pipeline::job::JobConfig;
use vigil_schemas::{BatchDecoder, FieldMapping};

fn cases(default: u32) -> u32 {
    std::env::var("VIGIL_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

const READINGS: &[&str] = &[
    r#"{"asset_id":"pump-7","ts":1767225600000,"measurements":{"temp":21.5,"vib":0.4}}"#,
    r#"{"asset_id":"pump-7","ts":"2026-01-01T00:00:00Z","temp":21.5,"vib":0.4,"tags":{"site":"north"}}"#,
    r#"{"asset_id":17,"ts":1767225600000,"measurements":{"temp":-1e308,"vib":1e-300}}"#,
    r#"{"ts":1767225600000,"measurements":{"temp":1}}"#,
    r#"[1,2,3]"#,
    r#"{"asset_id":"a","ts":1,"measurements":{"temp":"warm"}}"#,
];

const JSON_TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"1e999",
    b"NaN",
    b"-",
    b"null",
    b"true",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"0.",
    b"9999999999999999999999",
    b"\"ts\"",
    b"\"asset_id\"",
    b"\"measurements\"",
    b" ",
];

/// A payload: a corpus entry mutated a few times, or random bytes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        0..READINGS.len(),
        prop::collection::vec(
            (
                0u8..4,
                any::<prop::sample::Index>(),
                0..JSON_TOKENS.len(),
                any::<u8>(),
            ),
            1..4,
        ),
    )
        .prop_map(|(i, muts)| {
            let mut p = READINGS[i].as_bytes().to_vec();
            for (kind, at, tok, byte) in muts {
                let pos = if p.is_empty() {
                    0
                } else {
                    at.index(p.len() + 1)
                };
                match kind {
                    0 => p.truncate(pos),
                    1 if !p.is_empty() => {
                        let j = pos.min(p.len() - 1);
                        p[j] ^= byte | 1;
                    }
                    2 => {
                        let t = JSON_TOKENS[tok];
                        p.splice(pos..pos, t.iter().copied());
                    }
                    _ => {
                        let end = (pos + 3).min(p.len());
                        p.splice(pos..end, JSON_TOKENS[tok].iter().copied());
                    }
                }
            }
            p
        });
    prop_oneof![8 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..64)]
}

#[test]
fn decoder_never_panics_and_accounts_for_every_payload() {
    let decoder =
        BatchDecoder::new(FieldMapping::canonical(&["temp", "vib"], &["site"])).expect("mapping");
    let n = cases(1_000_000);
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let (rows, dead) = (Cell::new(0u64), Cell::new(0u64));
    runner
        .run(&payload(), |p| {
            let out = decoder
                .decode([Some(p.as_slice())])
                .expect("decode never errs on data");
            prop_assert_eq!(
                out.rows.len() + out.dead.len(),
                1,
                "one row xor one dead letter"
            );
            for name in ["temp", "vib"] {
                if let Some(col) = out.batch.column_by_name(name) {
                    let col = col
                        .as_any()
                        .downcast_ref::<Float64Array>()
                        .expect("f64 column");
                    for i in 0..col.len() {
                        prop_assert!(col.is_null(i) || col.value(i).is_finite());
                    }
                }
            }
            let counter = if out.rows.is_empty() { &dead } else { &rows };
            counter.set(counter.get() + 1);
            Ok(())
        })
        .expect("the decoder survived every case");
    let (rows, dead) = (rows.get(), dead.get());
    println!("decoder: {n} payloads, {rows} decoded, {dead} dead-lettered, no panic");
    assert!(rows > 0 && dead > 0, "the mutations reach both outcomes");
}

const JOB: &str = r#"[job]
name = "fuzz"
[kafka]
brokers = "127.0.0.1:9092"
group_id = "g"
input_topics = ["in"]
alert_topic = "alerts"
dead_letter_topic = "dead"
delivery = "exactly-once"
commit_interval = "100ms"
[fields]
measurements = ["temp", "vib"]
[window]
kind = "hopping"
size = "10s"
slide = "5s"
allowed_lateness = "1s"
idle_timeout = "30s"
[quality]
silent_after = "20s"
stuck_windows = 3
[[baselines]]
feature = "temp_mean"
method = "ewma"
warmup = 5
alpha = 0.1
limit = 4.0
[features]
sql_file = "features.sql"
[model]
artifact = "m.json"
"#;

const TOML_TOKENS: &[&str] = &[
    "=",
    "\"",
    "[",
    "]",
    "[[",
    "]]",
    "\n",
    "#",
    "-1",
    "0",
    "1e400",
    "nan",
    "inf",
    "\"off\"",
    "\"0s\"",
    "\"-5s\"",
    "\"99999999999d\"",
    "true",
    "{",
    "}",
    ",",
    "kind = \"session\"",
    "gap = \"1s\"",
    "slide = \"3s\"",
    "\u{0}",
    "é",
];

fn job_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (0u8..3, any::<prop::sample::Index>(), 0..TOML_TOKENS.len()),
        1..4,
    )
    .prop_map(|muts| {
        let mut t: Vec<char> = JOB.chars().collect();
        for (kind, at, tok) in muts {
            let pos = at.index(t.len() + 1);
            match kind {
                0 => {
                    let end = (pos + 7).min(t.len());
                    t.drain(pos..end);
                }
                1 => {
                    t.splice(pos..pos, TOML_TOKENS[tok].chars());
                }
                _ => {
                    let end = (pos + 4).min(t.len());
                    t.splice(pos..end, TOML_TOKENS[tok].chars());
                }
            }
        }
        t.into_iter().collect()
    })
}

#[test]
fn job_parser_never_panics() {
    let n = cases(1_000_000);
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    let (ok, refused) = (Cell::new(0u64), Cell::new(0u64));
    let dir = std::env::temp_dir().join(vigil_tests::unique("vigil-fuzz"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("features.sql"),
        "SELECT asset_id, avg(temp) AS temp_mean FROM readings GROUP BY asset_id",
    )
    .expect("sql");
    let path = dir.join("job.toml");
    let path = path.as_path();
    runner
        .run(&job_text(), |text| {
            match JobConfig::from_toml(&text, path) {
                Ok(_) => ok.set(ok.get() + 1),
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    refused.set(refused.get() + 1);
                }
            }
            Ok(())
        })
        .expect("the job parser survived every case");
    std::fs::remove_dir_all(&dir).ok();
    let (ok, refused) = (ok.get(), refused.get());
    println!("job parser: {n} files, {ok} valid, {refused} refused with problems, no panic");
    assert!(ok > 0 && refused > 0, "the mutations reach both outcomes");
}
