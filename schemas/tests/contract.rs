//! The committed JSON Schemas agree with the Rust types, and everything the Rust type can
//! serialize is decoded by the batch decoder into the same values.
//!
//! Regenerate the schema files after an intended change with `VIGIL_BLESS=1 cargo test -p vigil-schemas`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, TimestampMillisecondType};
use proptest::prelude::*;
use vigil_schemas::{
    Alert, AlertKind, AlertState, BatchDecoder, ControlRecord, EventTime, FieldMapping, Reading,
    Waveform,
};

/// This crate's directory as cargo gives it to the running test, else as at compile time (a
/// target directory shared with a clone at another path reuses its test binaries).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
}

fn check_schema(file: &str, generated: serde_json::Value) {
    let path = crate_dir().join("json").join(file);
    let pretty = serde_json::to_string_pretty(&generated).expect("schema serializes") + "\n";
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &pretty).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); run with VIGIL_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        committed, pretty,
        "{file} is out of date with the Rust type; bless with VIGIL_BLESS=1"
    );
}

#[test]
fn reading_schema_file_matches_rust_type() {
    check_schema("reading.schema.json", Reading::json_schema());
}

#[test]
fn alert_schema_file_matches_rust_type() {
    check_schema("alert.schema.json", Alert::json_schema());
}

#[test]
fn control_schema_file_matches_rust_type() {
    check_schema("control.schema.json", ControlRecord::json_schema());
}

/// Parses `text` as `T` and checks that it writes back the same JSON (nothing dropped or
/// renamed) and that every key is one the committed schema declares.
fn check_example<T>(name: &str, text: &str, schema: &serde_json::Value) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{name}: not a valid record: {e}"));
    let back = serde_json::to_value(&typed).expect("serializes");
    // `schema_version` defaults to 1 when absent (records written before versioning)
    let mut expected = value.clone();
    if let (Some(e), Some(b)) = (expected.as_object_mut(), back.as_object()) {
        if b.contains_key("schema_version") && !e.contains_key("schema_version") {
            e.insert("schema_version".into(), b["schema_version"].clone());
        }
    }
    assert_eq!(back, expected, "{name}: round trip changes the record");
    let declared = schema_keys(schema);
    for k in value.as_object().expect("an object").keys() {
        assert!(declared.contains(k), "{name}: key {k} is not in the schema");
    }
    typed
}

/// Every property name the schema declares, at any depth.
fn schema_keys(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                    out.extend(props.keys().cloned());
                }
                stack.extend(m.values());
            }
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

#[test]
fn example_records_are_valid_and_cover_every_kind_state_and_action() {
    let dir = crate_dir().join("json/examples");
    let read_schema = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("..").join(f)).unwrap()).unwrap()
    };
    let (alert_schema, control_schema) = (
        read_schema("alert.schema.json"),
        read_schema("control.schema.json"),
    );
    let mut kinds = std::collections::BTreeSet::new();
    let mut states = std::collections::BTreeSet::new();
    let mut actions = std::collections::BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("schemas/json/examples")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        if name.starts_with("alert-") {
            let a: Alert = check_example(&name, &text, &alert_schema);
            kinds.insert(a.kind.as_str());
            if let Some(s) = a.state {
                states.insert(s.as_str());
            }
            if let Some(tp) = &a.traceparent {
                assert_eq!(tp.len(), 55, "{name}: traceparent {tp}");
            }
        } else if name.starts_with("control-") {
            let c: ControlRecord = check_example(&name, &text, &control_schema);
            let v = serde_json::to_value(&c).unwrap();
            actions.insert(v["action"].as_str().unwrap().to_string());
        } else {
            panic!("{name}: examples are alert-*.json or control-*.json");
        }
    }
    for k in [AlertKind::Anomaly, AlertKind::Rul, AlertKind::DataQuality] {
        assert!(
            kinds.contains(k.as_str()),
            "an example of kind {}",
            k.as_str()
        );
    }
    for s in [AlertState::Open, AlertState::Update, AlertState::Resolved] {
        assert!(
            states.contains(s.as_str()),
            "an example in state {}",
            s.as_str()
        );
    }
    for a in ["ack", "silence", "unsilence"] {
        assert!(actions.contains(a), "an example of control action {a}");
    }
}

const NAMES: [&str; 4] = ["vibration", "temperature", "pressure", "current"];

fn reading() -> impl Strategy<Value = Reading> {
    (
        "[a-z]{1,6}-[0-9]{1,3}",
        946_684_800_000i64..4_102_444_799_000,
        proptest::collection::btree_map(prop::sample::select(NAMES.to_vec()), -1e9f64..1e9, 1..4),
        proptest::option::of("[A-Z]{1,3}"),
        proptest::option::of((
            1.0f64..50_000.0,
            proptest::collection::vec(-1e3f64..1e3, 0..20),
        )),
    )
        .prop_map(|(asset_id, ts, m, site, wave)| Reading {
            asset_id,
            ts: EventTime::Millis(ts),
            measurements: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            tags: site
                .map(|s| BTreeMap::from([("site".to_string(), s)]))
                .unwrap_or_default(),
            waveforms: wave
                .map(|(rate_hz, samples)| {
                    BTreeMap::from([("accel".to_string(), Waveform { rate_hz, samples })])
                })
                .unwrap_or_default(),
        })
}

proptest! {
    #[test]
    fn decoder_reads_exactly_what_the_type_writes(readings in proptest::collection::vec(reading(), 1..40)) {
        let mut mapping = FieldMapping::canonical(&NAMES, &["site"]);
        mapping.waveforms = vec!["accel".to_string()];
        let dec = BatchDecoder::new(mapping).unwrap();
        let payloads: Vec<Vec<u8>> = readings.iter().map(|r| serde_json::to_vec(r).unwrap()).collect();
        let out = dec.decode(payloads.iter().map(|p| Some(p.as_slice()))).unwrap();
        prop_assert!(out.dead.is_empty(), "{:?}", out.dead);
        let b = out.batch;
        prop_assert_eq!(b.num_rows(), readings.len());
        for (i, r) in readings.iter().enumerate() {
            prop_assert_eq!(b.column(0).as_string::<i32>().value(i), r.asset_id.as_str());
            let EventTime::Millis(ts) = r.ts else { unreachable!() };
            prop_assert_eq!(b.column(1).as_primitive::<TimestampMillisecondType>().value(i), ts);
            for (c, name) in NAMES.iter().enumerate() {
                let col = b.column(2 + c).as_primitive::<Float64Type>();
                match r.measurements.get(*name) {
                    Some(v) => prop_assert_eq!(col.value(i), *v),
                    None => prop_assert!(col.is_null(i)),
                }
            }
            let site = b.column(6).as_string::<i32>();
            match r.tags.get("site") {
                Some(s) => prop_assert_eq!(site.value(i), s.as_str()),
                None => prop_assert!(site.is_null(i)),
            }
            let samples = b.column(7).as_list::<i32>();
            let rate = b.column(8).as_primitive::<Float64Type>();
            match r.waveforms.get("accel") {
                Some(w) => {
                    prop_assert_eq!(rate.value(i), w.rate_hz);
                    let got = samples.value(i);
                    prop_assert_eq!(got.as_primitive::<Float64Type>().values().to_vec(), w.samples.clone());
                }
                None => prop_assert!(samples.is_null(i) && rate.is_null(i)),
            }
        }
    }
}

#[test]
fn rfc3339_event_time_is_accepted_by_type_and_decoder() {
    let r = Reading {
        asset_id: "p".into(),
        ts: EventTime::Rfc3339("2026-11-26T03:00:00.250Z".into()),
        measurements: BTreeMap::from([("vibration".into(), 1.0)]),
        tags: BTreeMap::new(),
        waveforms: BTreeMap::new(),
    };
    let json = serde_json::to_vec(&r).unwrap();
    let back: Reading = serde_json::from_slice(&json).unwrap();
    assert_eq!(back, r);
    let dec = BatchDecoder::new(FieldMapping::canonical(&NAMES, &[])).unwrap();
    let out = dec.decode([Some(json.as_slice())]).unwrap();
    assert_eq!(
        out.batch
            .column(1)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_795_662_000_250
    );
}
