//! Golden-file cases: `tests/cases/<name>/` holds a job (`job.toml`), its input (`input.jsonl`)
//! and the expected output (`expected.jsonl`). The input is a sequence of polls, one per line:
//! `{"wall": ms, "records": [{"p": partition, "value": <payload JSON>} | {"p": n, "raw": "text"}]}`
//! (an empty `records` list is a poll that returned nothing; lines starting with `//` are
//! comments). Partitions are assigned when a poll first mentions them, or by `"assign": [..]`. Each poll goes through the
//! production engine (decode, event time, feature SQL, data-quality checks) exactly as the
//! Kafka runner drives it; the output lists, per poll and then for the final flush, dead letters,
//! late and duplicate records, watermark changes, feature rows and alerts, one JSON per line.
//!
//! An intended behaviour change is accepted with `VIGIL_BLESS=1 cargo test -p vigil-tests --test
//! golden`, which rewrites the expected files; review the diff before committing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use vigil_operators::arrow::array::{Array, AsArray, RecordBatch};
use vigil_operators::arrow::datatypes::{Float64Type, TimestampMillisecondType};
use vigil_pipeline::engine::{Engine, Step};
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::metrics::JobStats;

fn cases_dir() -> PathBuf {
    vigil_tests::crate_dir().join("cases")
}

/// Rounds to 9 significant digits so the files do not depend on the last bits of float math.
fn round(v: f64) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    let s = format!("{v:.8e}");
    s.parse::<f64>().map(|x| json!(x)).unwrap_or(Value::Null)
}

fn feature_rows(b: &RecordBatch, names: &[String]) -> Vec<Value> {
    let assets = b.column(0).as_string::<i32>();
    let ws = b.column(1).as_primitive::<TimestampMillisecondType>();
    let we = b.column(2).as_primitive::<TimestampMillisecondType>();
    let mut rows: Vec<Value> = (0..b.num_rows())
        .map(|i| {
            let mut m = serde_json::Map::new();
            m.insert("asset_id".into(), json!(assets.value(i)));
            m.insert("window".into(), json!([ws.value(i), we.value(i)]));
            for (j, n) in names.iter().enumerate() {
                let c = b.column(3 + j).as_primitive::<Float64Type>();
                let v = if c.is_null(i) {
                    Value::Null
                } else {
                    round(c.value(i))
                };
                m.insert(n.clone(), v);
            }
            Value::Object(m)
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn step_lines(
    at: &Value,
    step: &Step,
    names: &[String],
    rec_of_row: &dyn Fn(u32) -> Value,
    out: &mut Vec<Value>,
) {
    for r in &step.late_rows {
        out.push(json!({"poll": at, "late": rec_of_row(*r)}));
    }
    for r in &step.duplicate_rows {
        out.push(json!({"poll": at, "duplicate": rec_of_row(*r)}));
    }
    for b in &step.features {
        for row in feature_rows(b, names) {
            out.push(json!({"poll": at, "features": row}));
        }
    }
    for a in &step.alerts {
        let mut v = serde_json::to_value(a).expect("alert JSON");
        if let Some(o) = v.as_object_mut() {
            o.remove("emitted_at");
            if let Some(s) = o.get("score").and_then(Value::as_f64) {
                o.insert("score".into(), round(s));
            }
        }
        out.push(json!({"poll": at, "alert": v}));
    }
}

/// Runs one case and returns its output lines. With `restore_every = Some(k)` an incremental
/// snapshot is taken after every poll (its segments kept as the changelog keeps them: new ones
/// added, dropped ones removed) and every `k`-th poll the engine is replaced by a fresh one
/// restored from the latest head and the kept segments: the output must not change.
/// With `fold = Some(n)` open panes fold raw readings into partial states from `n` rows on
/// (`Engine::set_fold_min_rows`); without, the engine's default.
fn run_case(dir: &Path, restore_every: Option<usize>, fold: Option<usize>) -> Vec<String> {
    let cfg =
        JobConfig::load(&dir.join("job.toml")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let input = std::fs::read_to_string(dir.join("input.jsonl")).expect("input.jsonl");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut engine = rt
        .block_on(Engine::new(&cfg, None, Arc::new(JobStats::new())))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    if let Some(n) = fold {
        engine.set_fold_min_rows(n);
    }
    let names = engine.features().feature_names().to_vec();
    let mut out: Vec<Value> = Vec::new();
    let mut last_wm = None;
    let mut assigned = std::collections::BTreeSet::new();
    let mut polls = 0;
    let mut segments = vigil_operators::snapshot::Segments::new();
    for (n, line) in input.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("//") {
            continue;
        }
        polls += 1;
        let poll: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("input line {}: {e}", n + 1));
        let wall = poll["wall"].as_i64().expect("wall");
        let records = poll["records"].as_array().cloned().unwrap_or_default();
        let payloads: Vec<Vec<u8>> = records
            .iter()
            .map(|r| match r.get("raw") {
                Some(Value::String(s)) => s.clone().into_bytes(),
                _ => r["value"].to_string().into_bytes(),
            })
            .collect();
        let parts: Vec<u32> = records
            .iter()
            .map(|r| r["p"].as_u64().unwrap_or(0) as u32)
            .collect();
        // partitions are assigned when first mentioned by any poll (as a rebalance would)
        let new: Vec<u32> = parts
            .iter()
            .copied()
            .filter(|p| assigned.insert(*p))
            .collect();
        if let Some(ps) = poll.get("assign").and_then(Value::as_array) {
            let ps: Vec<u32> = ps
                .iter()
                .filter_map(Value::as_u64)
                .map(|p| p as u32)
                .filter(|p| assigned.insert(*p))
                .collect();
            engine.assign(ps, wall);
        }
        engine.assign(new, wall);
        let at = json!(polls);
        let decoded = engine
            .decode(payloads.iter().map(|p| Some(p.as_slice())))
            .expect("decode");
        for d in &decoded.dead {
            out.push(json!({"poll": at, "dead": {"record": d.index, "reason": d.reason.code()}}));
            engine.touch(parts[d.index], wall);
        }
        let sources: Vec<u32> = decoded.rows.iter().map(|i| parts[*i as usize]).collect();
        let step = if records.is_empty() {
            rt.block_on(engine.tick(wall))
        } else {
            rt.block_on(engine.process(&decoded.batch, &sources, wall))
        }
        .expect("process");
        let rec_of_row =
            |r: u32| json!({"record": decoded.rows[r as usize], "p": sources[r as usize]});
        step_lines(&at, &step, &names, &rec_of_row, &mut out);
        if engine.watermark() != last_wm {
            last_wm = engine.watermark();
            out.push(json!({"poll": at, "watermark": last_wm}));
        }
        if let Some(k) = restore_every {
            let delta = engine.snapshot_delta().expect("snapshot");
            segments.extend(delta.put);
            for n in &delta.drop {
                assert!(segments.remove(n).is_some(), "dropped unknown segment {n}");
            }
            if polls % k == 0 {
                let mut fresh = rt
                    .block_on(Engine::new(&cfg, None, Arc::new(JobStats::new())))
                    .expect("engine");
                if let Some(n) = fold {
                    fresh.set_fold_min_rows(n);
                }
                fresh
                    .restore_parts(&delta.head, &segments, wall)
                    .unwrap_or_else(|e| panic!("{}: restore at poll {polls}: {e}", dir.display()));
                engine = fresh;
            }
        }
    }
    let step = rt.block_on(engine.flush()).expect("flush");
    step_lines(&json!("flush"), &step, &names, &|r| json!(r), &mut out);
    out.iter().map(Value::to_string).collect()
}

/// The golden case directories (those with a `job.toml`), sorted.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("job.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

/// The first line where `got` and `want` differ, described; `None` when they are equal.
fn first_difference(got: &[String], want: &[&str]) -> Option<String> {
    let i = (0..got.len().max(want.len()))
        .find(|i| got.get(*i).map(String::as_str) != want.get(*i).copied())?;
    Some(format!(
        "first difference at line {}\n  expected: {}\n  got:      {}",
        i + 1,
        want.get(i).unwrap_or(&"<end>"),
        got.get(i).map_or("<end>", String::as_str)
    ))
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("VIGIL_BLESS").is_some();
    let dirs = case_dirs();
    assert!(dirs.len() >= 5, "expected the golden cases, found {dirs:?}");
    let mut failed = Vec::new();
    for dir in &dirs {
        let got = run_case(dir, None, None);
        let path = dir.join("expected.jsonl");
        if bless {
            std::fs::write(&path, got.join("\n") + "\n").expect("write expected");
            println!("blessed {}", path.display());
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        let want: Vec<&str> = want.lines().collect();
        let n = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if let Some(d) = first_difference(&got, &want) {
            failed.push(format!("case {n}: {d}"));
        } else {
            println!("case {n}: {} lines match", got.len());
        }
    }
    assert!(
        failed.is_empty(),
        "{}\n(if the change is intended: VIGIL_BLESS=1 cargo test -p vigil-tests --test golden, then review the diff)",
        failed.join("\n")
    );
}

/// Every case again, its engine restored from incremental snapshots every second and every
/// third poll: the same output as without restores (the expected files are the reference).
/// Cases whose output depends on wall-clock idleness are left out: a restore deliberately
/// restarts idleness counting (a job that was down has not watched its partitions be idle),
/// so restoring every poll must delay the idle-partition release there.
#[test]
fn golden_cases_survive_incremental_snapshot_restores() {
    let dirs = case_dirs();
    let mut failed = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let job = std::fs::read_to_string(dir.join("job.toml")).unwrap_or_default();
        if job
            .lines()
            .any(|l| l.starts_with("idle_timeout") && !l.contains("\"off\""))
        {
            println!(
                "{}: skipped (idleness restarts at a restore)",
                dir.display()
            );
            continue;
        }
        checked += 1;
        let want = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap_or_default();
        let want: Vec<&str> = want.lines().collect();
        // (restore every k polls, fold from n rows): folded panes must snapshot and restore too
        for (k, fold) in [(2, None), (3, None), (2, Some(1)), (3, Some(2))] {
            let got = run_case(dir, Some(k), fold);
            if let Some(d) = first_difference(&got, &want) {
                failed.push(format!(
                    "{} restored every {k} polls, folding from {fold:?} rows: {d}",
                    dir.display()
                ));
            }
        }
    }
    assert!(checked >= 5, "only {checked} cases checked");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Every case again with open panes folding raw readings into partial states from the first
/// row and from every second row on: the same output (features are compared at the golden
/// files' rounding; merging partial sums changes only the last bits).
#[test]
fn golden_cases_fold_panes_early_with_the_same_output() {
    let dirs = case_dirs();
    let mut failed = Vec::new();
    for dir in &dirs {
        let want = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap_or_default();
        let want: Vec<&str> = want.lines().collect();
        for n in [1, 2] {
            let got = run_case(dir, None, Some(n));
            if let Some(d) = first_difference(&got, &want) {
                failed.push(format!("{} folding from {n} rows: {d}", dir.display()));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
