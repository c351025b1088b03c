//! The committed JSON Schemas agree with the Rust types, and everything the Rust type can
//! serialize is decoded by the batch decoder into the same values.
//!
//! Regenerate the schema files after an intended change with `VIGIL_BLESS=1 cargo test -p vigil-schemas`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, TimestampMillisecondType};
use proptest::prelude::*;
use vigil_schemas::{Alert, BatchDecoder, EventTime, FieldMapping, Reading, Waveform};

fn check_schema(file: &str, generated: serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("json")
        .join(file);
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
