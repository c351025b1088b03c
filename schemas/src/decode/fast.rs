//! The fast path of the JSON decoder: a byte scanner for the payload shape nearly every record
//! has, tried before the general serde visitor.
//!
//! It accepts one JSON object whose keys and string values have no escapes, whose values are
//! numbers, strings or `null`, and whose only nested values are the `measurements` and `tags`
//! objects (of such scalars). Anything else — an escape, a boolean, an array, a waveform, a
//! number it cannot convert exactly, a value a field rule rejects, any syntax error — makes it
//! give up (`None`) and the caller decodes the payload again with the serde visitor, which finds
//! the precise reason. So the scanner never rejects: it only has to agree with the visitor on
//! what it accepts, and it writes the scratch through the same field rules (`measurement`,
//! `tag`, `event_time`) in the same key order. A property test holds the two to that.
//!
//! Why: in `vigil bench kafka` serde's visitor (key parsing into `Cow`, `deserialize_any`
//! dispatch per value) was about two fifths of the job thread.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::json::{event_time, measurement, tag, Scalar, Scratch};
use super::BatchDecoder;

/// Decodes `p` into `s` (already reset) if it has the common shape; `None` if the caller must
/// use the general visitor (then `s` holds garbage and must be reset). `p` need not have been
/// checked for UTF-8: what this accepts is valid UTF-8.
pub(super) fn decode(dec: &BatchDecoder, p: &[u8], s: &mut Scratch) -> Option<()> {
    let m = dec.mapping();
    let nested_first = dec.nested_first();
    let mut next = 0;
    let mut c = Cursor { b: p, i: 0 };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    if !c.eat_if(b'}') {
        loop {
            let key = c.key()?;
            if nested_first && key == b"measurements" {
                measurements(&mut c, dec, s, &mut next)?;
            } else if same(key, &m.asset_field) {
                match c.scalar()? {
                    Scalar::Str(v) => s.asset.push_str(&v),
                    Scalar::Int(v) => write!(s.asset, "{v}").ok()?,
                    _ => return None,
                }
                s.has_asset = true;
            } else if same(key, &m.time_field) {
                s.ts = event_time(&m.time_field, c.scalar()?, m.numeric_time).ok()?;
                s.has_ts = true;
            } else if let Some(slot) = measurement_slot(dec, key, &mut next)? {
                let name = &m.measurements[slot].source;
                s.values[slot] = measurement(name, c.scalar()?).ok()?;
            } else if let Some(slot) = dec.tag_slot(text(key)?) {
                s.tags[slot] = tag(&m.tags[slot], c.scalar()?).ok()?;
            } else if key == b"measurements" {
                measurements(&mut c, dec, s, &mut next)?;
            } else if key == b"tags" {
                c.object(|c, k| {
                    let v = c.scalar()?;
                    match dec.tag_slot(text(k)?) {
                        Some(slot) => s.tags[slot] = tag(&m.tags[slot], v).ok()?,
                        None if m.forbid_unknown => return None,
                        None => {}
                    }
                    Some(())
                })?;
            } else if key == b"waveforms" || m.forbid_unknown {
                return None;
            } else {
                c.scalar()?;
            }
            if c.member_end()? {
                break;
            }
        }
    }
    c.ws();
    (c.i == p.len()).then_some(())
}

/// The `measurements` object, at its opening brace.
fn measurements(
    c: &mut Cursor<'_>,
    dec: &BatchDecoder,
    s: &mut Scratch,
    next: &mut usize,
) -> Option<()> {
    let m = dec.mapping();
    c.object(|c, k| {
        let v = c.scalar()?;
        match measurement_slot(dec, k, next)? {
            Some(slot) => s.values[slot] = measurement(&m.measurements[slot].source, v).ok()?,
            None if m.forbid_unknown => return None,
            None => {}
        }
        Some(())
    })
}

/// Whether key bytes spell `name`; compared inline (the keys are short, and a `memcmp` call
/// per comparison was a tenth of the scanner's time).
pub(super) fn same(key: &[u8], name: &str) -> bool {
    key.len() == name.len() && key.iter().zip(name.as_bytes()).all(|(a, b)| a == b)
}

/// Key bytes as text; `None` (give up) if they are not UTF-8. A key that [`same`] matched to a
/// mapping name needs no check.
pub(super) fn text(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key).ok()
}

/// The slot of measurement `key` (`Some(None)`: not a mapped measurement; `None`: give up),
/// trying first the one after the previous measurement's (payloads list measurements in the
/// same order), which saves the hash lookup.
pub(super) fn measurement_slot(
    dec: &BatchDecoder,
    key: &[u8],
    next: &mut usize,
) -> Option<Option<usize>> {
    let slot = match dec.mapping().measurements.get(*next) {
        Some(f) if same(key, &f.source) => Some(*next),
        _ => dec.measurement_slot(text(key)?),
    };
    if let Some(slot) = slot {
        *next = slot + 1;
    }
    Some(slot)
}

/// A position in the payload.
pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON whitespace.
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    pub(super) fn eat_if(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    /// The bytes of a string without escapes or control characters, after its opening quote.
    /// Not checked for UTF-8: a quote is never inside a UTF-8 character, and every other byte
    /// the scanner takes is ASCII it matched, so checking each string it keeps as text (or
    /// skips) makes the whole payload checked.
    pub(super) fn string_body(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.i..)?;
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i += len + 1;
        Some(&rest[..len])
    }

    /// `"key"` followed by `:` (and whitespace).
    pub(super) fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let k = self.string_body()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(k)
    }

    /// A string, number or `null`.
    pub(super) fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                let v = std::str::from_utf8(self.string_body()?).ok()?;
                Some(Scalar::Str(Cow::Borrowed(v)))
            }
            b'n' => {
                let end = self.i.checked_add(4)?;
                (self.b.get(self.i..end)? == b"null").then(|| {
                    self.i = end;
                    Scalar::Null
                })
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// After an object member: `true` at the object's closing brace, `false` after a comma
    /// (whitespace skipped both sides), `None` (give up) on anything else.
    pub(super) fn member_end(&mut self) -> Option<bool> {
        self.ws();
        if self.eat_if(b'}') {
            return Some(true);
        }
        self.eat(b',')?;
        self.ws();
        Some(false)
    }

    /// An object of scalars, `f` called with the cursor on each value and its key.
    pub(super) fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat_if(b'}') {
            return Some(());
        }
        loop {
            let k = self.key()?;
            f(self, k)?;
            if self.member_end()? {
                return Some(());
            }
        }
    }

    /// Skips digits, folding them into `mantissa` (wrapping: only used when few enough);
    /// returns how many there were. One pass: each byte is tested and folded in the same step.
    fn digits(&mut self, mantissa: &mut u64) -> usize {
        let (b, start) = (self.b, self.i);
        let (mut i, mut m) = (start, *mantissa);
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        *mantissa = m;
        self.i = i;
        i - start
    }

    /// A JSON number, as serde_json reads it: an integer without fraction or exponent is an
    /// `Int`, anything else a correctly rounded `Num`. Gives up on what serde_json reads
    /// differently (`-0`, integers beyond 18 digits) and on non-finite results.
    ///
    /// A decimal of at most 15 digits without exponent is one division of two exactly
    /// represented values, which IEEE 754 rounds correctly (the classic fast path of decimal
    /// to binary conversion); anything longer goes to the standard library's parser.
    pub(super) fn number(&mut self) -> Option<Scalar<'a>> {
        Some(match self.num()? {
            Number::Int(v) => Scalar::Int(v),
            Number::Float(x) => Scalar::Num(x),
        })
    }

    /// [`Cursor::number`] without the `Scalar` around it (returned in registers, which the
    /// shape path's per-value loop feels).
    #[inline]
    pub(super) fn num(&mut self) -> Option<Number> {
        let start = self.i;
        let neg = self.eat_if(b'-');
        let int_start = self.i;
        let mut mantissa = 0u64;
        let int_len = self.digits(&mut mantissa);
        if int_len == 0 || (int_len > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut frac_len = 0;
        let mut is_int = true;
        if self.eat_if(b'.') {
            is_int = false;
            frac_len = self.digits(&mut mantissa);
            if frac_len == 0 {
                return None;
            }
        }
        let mut has_exp = false;
        if let Some(b'e' | b'E') = self.peek() {
            (is_int, has_exp) = (false, true);
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits(&mut 0) == 0 {
                return None;
            }
        }
        if is_int {
            if int_len > 18 {
                return None;
            }
            let v = mantissa as i64;
            return match (neg, v) {
                (true, 0) => None,
                (true, v) => Some(Number::Int(-v)),
                (false, v) => Some(Number::Int(v)),
            };
        }
        let x = if !has_exp && int_len + frac_len <= 15 {
            // below 10^15, so exact as an i64 (one conversion instruction, unlike u64)
            let x = (mantissa as i64) as f64 / POW10[frac_len];
            if neg {
                -x
            } else {
                x
            }
        } else {
            std::str::from_utf8(&self.b[start..self.i])
                .ok()?
                .parse::<f64>()
                .ok()?
        };
        x.is_finite().then_some(Number::Float(x))
    }
}

/// A JSON number as serde_json reads it: an integer, or a finite float.
#[derive(Debug, Clone, Copy)]
pub(super) enum Number {
    Int(i64),
    Float(f64),
}

/// Exact powers of ten an `f64` holds.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

#[cfg(test)]
mod tests {
    use super::super::json::decode_general;
    use super::super::FieldMapping;
    use super::*;
    use proptest::prelude::*;

    fn num(t: &str) -> Option<f64> {
        match (Cursor {
            b: t.as_bytes(),
            i: 0,
        })
        .number()?
        {
            Scalar::Num(x) => Some(x),
            Scalar::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    #[test]
    fn numbers_match_the_standard_parse() {
        for t in [
            "0.1",
            "12.345",
            "-7.25",
            "3.0",
            "0.000001",
            "123456789.012345",
            "-0.5",
            "1.5",
            "1234567890123456.5",
            "2.5e-3",
            "17",
            "-40",
        ] {
            let want: f64 = t.parse().expect("number");
            assert_eq!(num(t), Some(want), "{t}");
        }
        assert_eq!(num("-0.0").map(f64::to_bits), Some((-0.0f64).to_bits()));
    }

    fn decoder(forbid_unknown: bool) -> BatchDecoder {
        let mut m = FieldMapping::canonical(&["vibration", "temperature"], &["site"]);
        m.forbid_unknown = forbid_unknown;
        BatchDecoder::new(m).expect("valid mapping")
    }

    type Seen = (String, Option<i64>, Vec<Option<u64>>, Vec<Option<String>>);

    /// What a decode left in the scratch (floats by bits, so -0.0 and 0.0 differ).
    fn seen(s: &Scratch) -> Seen {
        (
            s.asset.clone(),
            s.has_ts.then_some(s.ts),
            s.values.iter().map(|v| v.map(f64::to_bits)).collect(),
            s.tags.clone(),
        )
    }

    /// Runs the fast path; `None` if it gave up, else the check's verdict and the scratch.
    fn fast(dec: &BatchDecoder, p: &[u8]) -> Option<(Result<(), String>, Seen)> {
        let mut s = Scratch::new(2, 1, 0);
        s.reset();
        decode(dec, p, &mut s)?;
        let verdict = s.check(dec.mapping()).map_err(|(_, d)| d);
        Some((verdict, seen(&s)))
    }

    fn general(dec: &BatchDecoder, p: &[u8]) -> (Result<(), String>, Seen) {
        let mut s = Scratch::new(2, 1, 0);
        let verdict = decode_general(dec, p, &mut s).map_err(|(_, d)| d);
        (verdict, seen(&s))
    }

    #[test]
    fn takes_the_common_shapes() {
        let dec = decoder(false);
        for p in [
            r#"{"asset_id":"a000001","ts":1764126000000,"measurements":{"vibration":10.125,"temperature":60}}"#,
            r#" { "asset_id" : "p2" , "ts" : "2025-11-26T03:00:01Z" , "vibration" : -2.5e1 , "site" : "A" , "x" : null } "#,
            r#"{"asset_id":42,"ts":1764126000000,"tags":{"site":"B","other":"y"},"temperature":1E2}"#,
        ] {
            let (verdict, got) = fast(&dec, p.as_bytes()).unwrap_or_else(|| panic!("gave up: {p}"));
            assert_eq!((verdict, got), general(&dec, p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_read() {
        let dec = decoder(false);
        for p in [
            r#"{"asset_id":"a\"b","ts":1,"vibration":1}"#,
            r#"{"asset_id":"a","ts":1,"vibration":1,}"#,
            r#"{"asset_id":"a","ts":1,"vibration":-0}"#,
            r#"{"asset_id":"a","ts":1,"vibration":1e400}"#,
            r#"{"asset_id":"a","ts":1,"vibration":true}"#,
            r#"{"asset_id":"a","ts":1,"vibration":01}"#,
            r#"{"asset_id":"a","ts":1,"vibration":1}x"#,
            r#"{"asset_id":"a","ts":1,"waveforms":{}}"#,
            r#"{"asset_id":"a","ts":1,"measurements":null}"#,
            r#"{"asset_id":"a","ts":1,"extra":[1]}"#,
            r#"{"asset_id":"a","ts":12345678901234567890,"vibration":1}"#,
        ] {
            assert!(fast(&dec, p.as_bytes()).is_none(), "took {p}");
        }
        let bad_utf8 = b"{\"asset_id\":\"p\xff\",\"ts\":1764126000000,\"vibration\":1}";
        assert!(fast(&dec, bad_utf8).is_none(), "took invalid UTF-8");
        for bad_key in [
            &b"{\"asset_id\":\"p\",\"ts\":1764126000000,\"vibration\":1,\"x\xff\":2}"[..],
            b"{\"asset_id\":\"p\",\"ts\":1764126000000,\"measurements\":{\"v\xff\":2}}",
            b"{\"asset_id\":\"p\",\"ts\":1764126000000,\"vibration\":1,\"tags\":{\"\xff\":\"a\"}}",
        ] {
            assert!(
                fast(&dec, bad_key).is_none(),
                "took a key that is not UTF-8"
            );
        }
    }

    #[test]
    fn a_measurement_called_measurements_is_a_measurement() {
        let dec = BatchDecoder::new(FieldMapping::canonical(&["measurements"], &[]))
            .expect("valid mapping");
        let p = br#"{"asset_id":"a","ts":1764126000000,"measurements":5}"#;
        let mut s = Scratch::new(1, 0, 0);
        s.reset();
        assert!(decode(&dec, p, &mut s).is_some());
        assert_eq!(s.values, vec![Some(5.0)]);
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => Just("null".to_string()),
            1 => Just("true".to_string()),
            1 => Just("[1,2]".to_string()),
            1 => Just("{}".to_string()),
            4 => any::<i64>().prop_map(|v| v.to_string()),
            8 => (0u64..100_000, 0u32..4).prop_map(|(v, d)| format!("{v}.{:0w$}", v % 1000, w = d as usize + 1)),
            2 => any::<f64>().prop_map(|v| format!("{v:e}")),
            2 => any::<f64>().prop_map(|v| format!("{v}")),
            4 => "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
            1 => "[-+.0-9eE]{1,6}",
            4 => "\"[a-zA-Z0-9 \\\\\"é:-]{0,8}\"",
            2 => Just("\"2025-11-26T03:00:01Z\"".to_string()),
            1 => Just("\"not a time\"".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just("asset_id"),
            3 => Just("ts"),
            3 => Just("vibration"),
            2 => Just("temperature"),
            2 => Just("site"),
            1 => Just("extra"),
            1 => Just("waveforms"),
            1 => Just("asset\\u005fid"),
        ]
        .prop_map(|k| format!("\"{k}\""))
    }

    fn object(depth: u32) -> BoxedStrategy<String> {
        let member = (key(), value(), "[ \t\n]{0,1}");
        let nested = (
            prop_oneof![Just("\"measurements\""), Just("\"tags\"")],
            proptest::collection::vec((key(), value()), 0..4),
        )
            .prop_map(|(k, kv)| {
                let inner: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{k}:{{{}}}", inner.join(","))
            });
        let _ = depth;
        let members = proptest::collection::vec(
            prop_oneof![
                4 => member.prop_map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}{w}")),
                1 => nested,
            ],
            0..5,
        );
        // a plausible reading (asset, time in range, a measurement) plus random members, shuffled
        let reading = (
            prop_oneof![
                "\"[a-z0-9-]{1,8}\"",
                (0i64..1000).prop_map(|v| v.to_string())
            ],
            prop_oneof![
                (946_684_800_000i64..4_102_444_800_000).prop_map(|v| v.to_string()),
                Just("\"2025-11-26T03:00:01.250+01:00\"".to_string()),
            ],
            prop_oneof![
                value(),
                (-1000i64..1000, 0u32..1000).prop_map(|(i, f)| format!("{i}.{f}")),
            ],
            members.clone(),
        )
            .prop_map(|(a, t, v, mut rest)| {
                rest.push(format!("\"asset_id\":{a}"));
                rest.push(format!("\"ts\":{t}"));
                rest.push(format!("\"measurements\":{{\"temperature\":{v}}}"));
                rest
            })
            .prop_shuffle();
        prop_oneof![members, reading]
            .prop_map(|members| format!("{{{}}}", members.join(",")))
            .boxed()
    }

    /// A payload: mostly well-formed objects, some with one byte dropped or one inserted.
    fn payload() -> impl Strategy<Value = String> {
        (
            object(0),
            0usize..6,
            any::<prop::sample::Index>(),
            prop_oneof![Just(","), Just("}"), Just("\""), Just(" ")],
        )
            .prop_map(|(o, edit, at, ins)| {
                let mut o = o;
                let i = at.index(o.len().max(1)).min(o.len());
                match edit {
                    0 if !o.is_empty()
                        && o.is_char_boundary(i)
                        && o.is_char_boundary((i + 1).min(o.len())) =>
                    {
                        o.replace_range(i..(i + 1).min(o.len()), "");
                    }
                    1 if o.is_char_boundary(i) => o.insert_str(i, ins),
                    _ => {}
                }
                o
            })
    }

    /// The property below means something only if the fast path takes a fair share of the
    /// generated payloads.
    #[test]
    fn the_generated_payloads_exercise_the_fast_path() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let dec = decoder(false);
        let mut runner = TestRunner::deterministic();
        let (mut took, mut valid, n) = (0, 0, 2000);
        for _ in 0..n {
            let p = payload().new_tree(&mut runner).expect("tree").current();
            if let Some((verdict, _)) = fast(&dec, p.as_bytes()) {
                took += 1;
                valid += usize::from(verdict.is_ok());
            }
        }
        eprintln!("fast path took {took} of {n}, {valid} valid readings");
        assert!(took * 10 > n, "fast path took {took} of {n}");
        assert!(valid * 50 > n, "only {valid} of {n} accepted readings");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Whatever the fast path accepts, the serde visitor decodes to the same scratch with
        /// the same verdict.
        #[test]
        fn agrees_with_the_serde_visitor(p in payload(), forbid in any::<bool>()) {
            let dec = decoder(forbid);
            if let Some(got) = fast(&dec, p.as_bytes()) {
                prop_assert_eq!(got, general(&dec, p.as_bytes()), "payload {}", p);
            }
        }
    }
}
