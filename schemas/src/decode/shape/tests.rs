//! The shape path against the scanner it stands in front of: it takes only payloads the scanner
//! takes, and leaves the same scratch.

use super::super::json::Scratch;
use super::super::{BatchDecoder, FieldMapping};
use super::*;
use proptest::prelude::*;

fn decoder(forbid_unknown: bool) -> BatchDecoder {
    let mut m = FieldMapping::canonical(&["vibration", "temperature"], &["site"]);
    m.forbid_unknown = forbid_unknown;
    BatchDecoder::new(m).expect("valid mapping")
}

type Seen = (
    String,
    Option<i64>,
    Vec<Option<u64>>,
    Vec<Option<String>>,
    Result<(), String>,
);

/// What a decode left in the scratch (floats by bits) and the record check's verdict.
fn seen(dec: &BatchDecoder, s: &Scratch) -> Seen {
    (
        s.asset.clone(),
        s.has_ts.then_some(s.ts),
        s.values.iter().map(|v| v.map(f64::to_bits)).collect(),
        s.tags.clone(),
        s.check(dec.mapping()).map_err(|(_, d)| d),
    )
}

fn scanner(dec: &BatchDecoder, p: &[u8]) -> Option<Seen> {
    let mut s = Scratch::new(2, 1, 0);
    s.reset();
    super::super::fast::decode(dec, p, &mut s)?;
    Some(seen(dec, &s))
}

fn shaped(shape: &Shape, dec: &BatchDecoder, p: &[u8]) -> Option<Seen> {
    let mut s = Scratch::new(2, 1, 0);
    s.reset();
    shape.decode(dec, p, &mut s)?;
    Some(seen(dec, &s))
}

/// A reading as the bench writes it, values varying with `i`.
fn bench_like(i: u64) -> String {
    format!(
        r#"{{"asset_id":"a{:06}","ts":{},"measurements":{{"vibration":{}.{:03},"temperature":{}}}}}"#,
        i % 1000,
        1_764_126_000_000 + i * 1000,
        i % 97,
        (i * 37) % 1000,
        i % 113
    )
}

#[test]
fn one_layout_is_read_by_its_shape_like_the_scanner_reads_it() {
    let dec = decoder(false);
    let first = bench_like(0);
    let shape = Shape::learn(&dec, first.as_bytes()).expect("a shape");
    assert_eq!(shape.slots.len(), 4, "{shape:?}");
    for i in 0..500 {
        let p = bench_like(i * 7919);
        let got = shaped(&shape, &dec, p.as_bytes()).unwrap_or_else(|| panic!("missed {p}"));
        assert_eq!(Some(got), scanner(&dec, p.as_bytes()), "{p}");
    }
    // another layout of the same fields is not this shape's
    let flat = r#"{"asset_id":"a1","ts":1764126000000,"vibration":1.5,"temperature":2}"#;
    assert!(shaped(&shape, &dec, flat.as_bytes()).is_none());
    let spaced = first.replace(",\"ts\"", ", \"ts\"");
    assert!(shaped(&shape, &dec, spaced.as_bytes()).is_none());
}

#[test]
fn layouts_a_shape_does_not_cover_teach_none() {
    let dec = decoder(false);
    for p in [
        r#"{"asset_id":"a","ts":1764126000000,"vibration":null}"#,
        r#"{"asset_id":7,"ts":1764126000000,"vibration":1}"#,
        r#"{"asset_id":"a","ts":"2025-11-26T03:00:01Z","vibration":1}"#,
        r#"{"asset_id":"a","ts":1764126000000,"vibration":1,"site":"A"}"#,
        r#"{"asset_id":"a","ts":1764126000000,"tags":{"site":"A"},"vibration":1}"#,
        r#"{"asset_id":"a","ts":1764126000000,"vibration":1,"note":"x"}"#,
        r#"{}"#,
    ] {
        assert!(
            scanner(&dec, p.as_bytes()).is_some(),
            "scanner gave up on {p}"
        );
        assert!(Shape::learn(&dec, p.as_bytes()).is_none(), "learned {p}");
    }
}

#[test]
fn literals_compare_whole() {
    for n in 0..40usize {
        let a: Vec<u8> = (0..n as u8).collect();
        assert!(same_bytes(&a, &a.clone()));
        for i in 0..n {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!same_bytes(&a, &b), "len {n}, byte {i}");
        }
        assert!(!same_bytes(&a, &a[..n.saturating_sub(1)]) || n == 0);
    }
}

/// Which value a placeholder stands for.
#[derive(Debug, Clone, Copy)]
enum Role {
    Asset,
    Time,
    Number,
}

/// A layout: the payload text with `@` for each value, and the values' roles.
fn layout() -> impl Strategy<Value = (String, Vec<Role>)> {
    let member = prop_oneof![
        Just(("asset_id", Role::Asset)),
        Just(("ts", Role::Time)),
        Just(("vibration", Role::Number)),
        Just(("temperature", Role::Number)),
        Just(("site", Role::Number)),
        Just(("extra", Role::Number)),
    ];
    let ws = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n")];
    let nested = proptest::collection::vec(
        prop_oneof![Just("vibration"), Just("temperature"), Just("extra")],
        1..4,
    );
    (
        proptest::collection::vec((member, ws.clone()), 0..4),
        proptest::option::of(nested),
        ws,
    )
        .prop_map(|(members, nested, ws)| {
            let mut parts = vec![(format!("\"asset_id\":{ws}@"), vec![Role::Asset])];
            parts.push((format!("\"ts\":@{ws}"), vec![Role::Time]));
            for ((k, role), w) in members {
                parts.push((format!("{w}\"{k}\":{w}@"), vec![role]));
            }
            if let Some(keys) = nested {
                let inner: Vec<String> = keys.iter().map(|k| format!("\"{k}\":@")).collect();
                parts.push((
                    format!("\"measurements\":{{{}}}", inner.join(",")),
                    vec![Role::Number; keys.len()],
                ));
            }
            let roles = parts.iter().flat_map(|(_, r)| r.clone()).collect();
            let text: Vec<String> = parts.into_iter().map(|(t, _)| t).collect();
            (format!("{ws}{{{}}}", text.join(",")), roles)
        })
}

/// A value of the role's usual kind.
fn usual(role: Role) -> BoxedStrategy<String> {
    match role {
        Role::Asset => "\"[a-z0-9-]{1,8}\"".boxed(),
        Role::Time => (946_684_800_000i64..4_102_444_800_000)
            .prop_map(|v| v.to_string())
            .boxed(),
        Role::Number => (0u64..100_000, 0usize..4)
            .prop_map(|(v, d)| format!("{}.{:0w$}", v / 10, v % 1000, w = d + 1))
            .boxed(),
    }
}

/// Any value, often one of the role's usual kind.
fn value(role: Role) -> BoxedStrategy<String> {
    prop_oneof![
        40 => usual(role),
        2 => any::<i64>().prop_map(|v| v.to_string()),
        2 => "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        1 => "[-+.0-9eE]{1,6}",
        1 => "\"[a-z0-9\\\\\"é]{0,6}\"",
        1 => Just("null".to_string()),
        1 => Just("\"2025-11-26T03:00:01Z\"".to_string()),
        1 => Just("true".to_string()),
    ]
    .boxed()
}

fn fill(text: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut v = values.iter();
    for c in text.chars() {
        match c {
            '@' => out.push_str(v.next().map_or("0", String::as_str)),
            c => out.push(c),
        }
    }
    out
}

/// A layout and two payloads of it: the first with the roles' usual values, the second with
/// any values and sometimes one byte dropped or inserted.
fn pair() -> impl Strategy<Value = (String, String)> {
    layout().prop_flat_map(|(text, roles)| {
        let firsts: Vec<BoxedStrategy<String>> = roles.iter().map(|r| usual(*r)).collect();
        let seconds: Vec<BoxedStrategy<String>> = roles.iter().map(|r| value(*r)).collect();
        (
            Just(text),
            firsts,
            seconds,
            0usize..8,
            any::<prop::sample::Index>(),
        )
            .prop_map(|(text, first, second, edit, at)| {
                let a = fill(&text, &first);
                let mut b = fill(&text, &second);
                let i = at.index(b.len().max(1)).min(b.len());
                if b.is_char_boundary(i) && b.is_char_boundary((i + 1).min(b.len())) {
                    match edit {
                        0 => b.replace_range(i..(i + 1).min(b.len()), ""),
                        1 => b.insert(i, ','),
                        2 => b.insert(i, '"'),
                        _ => {}
                    }
                }
                (a, b)
            })
    })
}

/// The property below means something only if shapes are learned and taken often.
#[test]
fn the_generated_pairs_exercise_the_shape_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let dec = decoder(false);
    let mut runner = TestRunner::deterministic();
    let (mut learned, mut took, n) = (0, 0, 2000);
    for _ in 0..n {
        let (a, b) = pair().new_tree(&mut runner).expect("tree").current();
        if let Some(shape) = Shape::learn(&dec, a.as_bytes()) {
            learned += 1;
            took += usize::from(shaped(&shape, &dec, b.as_bytes()).is_some());
        }
    }
    eprintln!("learned {learned} shapes of {n}; {took} second payloads taken");
    assert!(learned * 4 > n, "learned {learned} of {n}");
    assert!(took * 10 > n, "took {took} of {n}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    /// A shape learned from a payload the scanner took reads that payload, and any payload it
    /// takes, exactly as the scanner does.
    #[test]
    fn takes_only_what_the_scanner_takes_and_reads_it_alike(
        (a, b) in pair(),
        forbid in any::<bool>(),
    ) {
        let dec = decoder(forbid);
        if scanner(&dec, a.as_bytes()).is_some() {
            if let Some(shape) = Shape::learn(&dec, a.as_bytes()) {
                prop_assert_eq!(
                    shaped(&shape, &dec, a.as_bytes()),
                    scanner(&dec, a.as_bytes()),
                    "own payload {}", a
                );
                if let Some(got) = shaped(&shape, &dec, b.as_bytes()) {
                    prop_assert_eq!(Some(got), scanner(&dec, b.as_bytes()), "payload {} after {}", b, a);
                }
            }
        }
    }
}

/// Whole batches: a stream of a few layouts, some bad records among them, decodes to the same
/// batch and the same dead letters with shapes as without.
#[test]
fn batches_decode_the_same_with_shapes_and_without() {
    let mut payloads: Vec<String> = Vec::new();
    for i in 0..300u64 {
        payloads.push(match i % 50 {
            7 => r#"{"asset_id":"a1","ts":1764126000000,"vibration":1.5,"site":"A"}"#.into(),
            8 => {
                "{\"asset_id\":\"a1\",\"ts\":1764126000000,\"measurements\":{\"vibration\":1e999}}"
                    .into()
            }
            9 => bench_like(i).replace("\"vibration\":", "\"vibration\":-"),
            10 => bench_like(i).replace("\"ts\":", "\"ts\":\"x\","),
            _ if (100..160).contains(&i) => format!(
                r#"{{"ts":{},"asset_id":"b{}","temperature":{}.5}}"#,
                1_764_126_000_000 + i,
                i % 5,
                i
            ),
            _ => bench_like(i),
        });
    }
    let with = decoder(false);
    let without = decoder(false).without_shapes();
    let a = with
        .decode(payloads.iter().map(|p| Some(p.as_bytes())))
        .expect("decode");
    let b = without
        .decode(payloads.iter().map(|p| Some(p.as_bytes())))
        .expect("decode");
    assert_eq!(a.batch, b.batch);
    assert_eq!(a.rows, b.rows);
    assert_eq!(format!("{:?}", a.dead), format!("{:?}", b.dead));
    assert_eq!(a.dead.len(), 12, "{:?}", a.dead);
}
