//! Unit tests of `decode`: every bad-input class, both JSON layouts, CSV history.
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, TimestampMillisecondType};

use super::*;

fn decoder() -> BatchDecoder {
    BatchDecoder::new(FieldMapping::canonical(
        &["vibration", "temperature"],
        &["site"],
    ))
    .expect("valid mapping")
}

fn decode(payloads: &[&[u8]]) -> DecodeOutcome {
    decoder()
        .decode(payloads.iter().map(|p| Some(*p)))
        .expect("decode")
}

#[test]
fn decodes_nested_and_flat_layouts_into_columns() {
    let out = decode(&[
        br#"{"asset_id":"p1","ts":1764126000000,"measurements":{"vibration":1.5,"temperature":60},"tags":{"site":"A"}}"#,
        br#"{"asset_id":"p2","ts":"2025-11-26T03:00:01Z","vibration":2.5,"extra":[1,2,{"x":1}]}"#,
    ]);
    assert!(out.dead.is_empty(), "{:?}", out.dead);
    assert_eq!(out.rows, vec![0, 1]);
    let b = &out.batch;
    assert_eq!(b.num_rows(), 2);
    assert_eq!(b.column(0).as_string::<i32>().value(1), "p2");
    let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_764_126_000_000);
    assert_eq!(ts.value(1), 1_764_126_001_000);
    let vib = b.column(2).as_primitive::<Float64Type>();
    assert_eq!((vib.value(0), vib.value(1)), (1.5, 2.5));
    let temp = b.column(3).as_primitive::<Float64Type>();
    assert_eq!(temp.value(0), 60.0);
    assert!(temp.is_null(1), "absent measurement is null");
    let site = b.column(4).as_string::<i32>();
    assert_eq!(site.value(0), "A");
    assert!(site.is_null(1));
}

#[test]
fn every_bad_class_gets_its_reason_and_good_rows_survive() {
    let big = format!(
        r#"{{"asset_id":"p","ts":1764126000000,"vibration":1,"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let cases: Vec<(Option<&[u8]>, RejectReason)> = vec![
        (None, RejectReason::EmptyPayload),
        (Some(b"   "), RejectReason::EmptyPayload),
        (Some(big.as_bytes()), RejectReason::Oversized),
        (
            Some(b"{\"asset_id\":\"p\xff\",\"ts\":1}"),
            RejectReason::InvalidUtf8,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":17641260"#),
            RejectReason::Truncated,
        ),
        (Some(br#"{"asset_id":"p1",,}"#), RejectReason::MalformedJson),
        (Some(br#"[1,2,3]"#), RejectReason::NotAnObject),
        (
            Some(br#"{"ts":1764126000000,"vibration":1}"#),
            RejectReason::MissingAssetId,
        ),
        (
            Some(br#"{"asset_id":"p1","vibration":1}"#),
            RejectReason::MissingTimestamp,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":1764126000000,"vibration":"high"}"#),
            RejectReason::WrongType,
        ),
        (
            Some(br#"{"asset_id":true,"ts":1764126000000,"vibration":1}"#),
            RejectReason::WrongType,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":1764126000000,"vibration":1e999}"#),
            RejectReason::NonFinite,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":5,"vibration":1}"#),
            RejectReason::BadTimestamp,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":"yesterday","vibration":1}"#),
            RejectReason::BadTimestamp,
        ),
        (
            Some(br#"{"asset_id":"p1","ts":1764126000000,"pressure":1}"#),
            RejectReason::NoMeasurements,
        ),
    ];
    let good: &[u8] = br#"{"asset_id":"ok","ts":1764126000000,"vibration":1}"#;
    let mut payloads = vec![Some(good)];
    payloads.extend(cases.iter().map(|(p, _)| *p));
    payloads.push(Some(good));
    let out = decoder().decode(payloads).expect("decode");
    assert_eq!(out.batch.num_rows(), 2, "good rows survive around bad ones");
    assert_eq!(out.rows, vec![0, cases.len() as u32 + 1]);
    assert_eq!(out.dead.len(), cases.len());
    for (dl, (_, want)) in out.dead.iter().zip(&cases) {
        assert_eq!(dl.reason, *want, "payload #{}: {}", dl.index, dl.detail);
        assert!(!dl.detail.is_empty());
    }
}

#[test]
fn csv_history_decodes_with_the_same_mapping() {
    let text = "asset_id,ts,vibration,temperature,site\np1,1764126000000,1.0,50,A\np1,2025-11-26T03:00:01Z,,51,A\np2,1764126000000,abc,1,B\n";
    let out = decode_csv(&decoder(), text).expect("csv");
    assert_eq!(out.batch.num_rows(), 2);
    assert_eq!(out.dead.len(), 1);
    assert_eq!(out.dead[0].reason, RejectReason::WrongType);
    assert_eq!(out.dead[0].index, 2);
}

#[test]
fn invalid_mappings_report_every_problem() {
    let mut m = FieldMapping::canonical(&["ts", "a", "a"], &[]);
    m.min_ts_ms = m.max_ts_ms;
    let errs = m.validate();
    assert!(errs.len() >= 4, "{errs:?}");
    assert!(BatchDecoder::new(m).is_err());
}

#[test]
fn waveforms_decode_and_bad_ones_are_rejected_by_reason() {
    let mut m = FieldMapping::canonical(&["vibration"], &[]);
    m.waveforms = vec!["accel".into()];
    m.max_waveform_samples = 4;
    let dec = BatchDecoder::new(m).expect("mapping");
    let payloads: Vec<&[u8]> = vec![
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"rate_hz":100,"samples":[1,-2.5,3]}}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"vibration":1.0}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"samples":[1,2]}}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"rate_hz":-5,"samples":[1]}}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"rate_hz":10,"samples":[1,"x"]}}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"rate_hz":10,"samples":[1,2,3,4,5]}}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":[1,2]}}"#,
        br#"{"asset_id":"p","ts":1764126000000,"waveforms":{"accel":{"rate_hz":10,"samples":[1e999]}}}"#,
    ];
    let out = dec
        .decode(payloads.iter().map(|p| Some(*p)))
        .expect("decode");
    assert_eq!(out.rows, vec![0, 1]);
    let reasons: Vec<(usize, &str)> = out
        .dead
        .iter()
        .map(|d| (d.index, d.reason.code()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (2, "wrong_type"),
            (3, "wrong_type"),
            (4, "wrong_type"),
            (5, "oversized"),
            (6, "wrong_type"),
            (7, "non_finite")
        ]
    );
    let b = &out.batch;
    let samples = b
        .column_by_name("accel")
        .expect("samples column")
        .as_list::<i32>();
    let rate = b
        .column_by_name("accel_rate_hz")
        .expect("rate column")
        .as_primitive::<Float64Type>();
    assert_eq!(
        samples
            .value(0)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
        vec![1.0, -2.5, 3.0]
    );
    assert_eq!(rate.value(0), 100.0);
    assert!(
        samples.is_null(1) && rate.is_null(1),
        "no snapshot in that reading"
    );
    assert!(!is_measurement(
        b.schema().field_with_name("accel_rate_hz").expect("field")
    ));
    assert!(is_measurement(
        b.schema().field_with_name("vibration").expect("field")
    ));
}

#[test]
fn the_fast_path_changes_nothing_but_speed() {
    let payloads: Vec<&[u8]> = vec![
        br#"{"asset_id":"p1","ts":1764126000000,"measurements":{"vibration":1.5,"temperature":60},"tags":{"site":"A"}}"#,
        br#"{"asset_id":"p2","ts":"2025-11-26T03:00:01Z","vibration":2.5,"extra":[1,2,{"x":1}]}"#,
        br#"{"asset_id":7,"ts":1764126000000,"vibration":-0,"temperature":1e400}"#,
        br#"{"asset_id":"p\"3","ts":1764126000000,"vibration":0.1}"#,
        br#"{"asset_id":"p4","ts":1764126000000,"vibration":"high"}"#,
        br#"{"asset_id":"p5","ts":17,"vibration":1}"#,
        br#"{"asset_id":"p6","ts":1764126000000,"measurements":{"vibration":null}}"#,
        br#"{"asset_id":"p7","ts":1764126000000,"vibration":1,}"#,
        b"{\"asset_id\":\"p\xff\",\"ts\":1764126000000,\"vibration\":1}",
        br#"[1,2]"#,
        br#"{"asset_id":"p8","ts":1764126000000,"vibration":12345678901234567.5}"#,
    ];
    let fast = decoder()
        .decode(payloads.iter().map(|p| Some(*p)))
        .expect("decode");
    let general = decoder()
        .without_fast_path()
        .decode(payloads.iter().map(|p| Some(*p)))
        .expect("decode");
    assert_eq!(fast.batch, general.batch);
    assert_eq!(fast.rows, general.rows);
    assert_eq!(fast.dead, general.dead);
    assert_eq!(fast.rows, vec![0, 1, 3, 10], "{:?}", fast.dead);
}
