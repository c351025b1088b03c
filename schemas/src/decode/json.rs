//! Single-pass JSON visiting of one payload into reusable scratch space.
//!
//! The visitor borrows keys from the payload where it can, looks each key up in the mapping, and
//! records the first problem it finds as a [`RejectReason`] with a detail naming the field.

use std::borrow::Cow;
use std::fmt;

use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{BatchDecoder, RejectReason};

/// Reusable per-record scratch space (no allocation per record once warmed up).
pub(crate) struct Scratch {
    pub(crate) asset: String,
    pub(super) has_asset: bool,
    pub(crate) ts: i64,
    pub(super) has_ts: bool,
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) tags: Vec<Option<String>>,
    /// Per mapped waveform: sample rate (None: absent) and samples (buffer reused).
    pub(crate) wave_rate: Vec<Option<f64>>,
    pub(crate) wave_samples: Vec<Vec<f64>>,
    reject: Option<(RejectReason, String)>,
    /// The layout of recent payloads (kept across records; see [`super::shape`]).
    pub(super) recent: super::shape::Recent,
}

impl Scratch {
    pub(crate) fn new(n_measurements: usize, n_tags: usize, n_waves: usize) -> Self {
        Scratch {
            wave_rate: vec![None; n_waves],
            wave_samples: vec![Vec::new(); n_waves],
            asset: String::new(),
            has_asset: false,
            ts: 0,
            has_ts: false,
            values: vec![None; n_measurements],
            tags: vec![None; n_tags],
            reject: None,
            recent: super::shape::Recent::default(),
        }
    }

    pub(super) fn reset(&mut self) {
        self.asset.clear();
        self.has_asset = false;
        self.has_ts = false;
        self.values.iter_mut().for_each(|v| *v = None);
        self.tags.iter_mut().for_each(|v| *v = None);
        self.wave_rate.iter_mut().for_each(|v| *v = None);
        self.wave_samples.iter_mut().for_each(Vec::clear);
        self.reject = None;
    }

    /// Fills the scratch from already-parsed parts (the CSV path).
    pub(crate) fn set(
        &mut self,
        asset: &str,
        ts: i64,
        values: Vec<Option<f64>>,
        tags: Vec<Option<String>>,
    ) {
        self.reset();
        self.asset.push_str(asset);
        self.has_asset = true;
        self.ts = ts;
        self.has_ts = true;
        self.values = values;
        self.tags = tags;
    }

    /// Checks the record-level rules every decoded reading must satisfy.
    pub(crate) fn check(&self, m: &super::FieldMapping) -> Result<(), Rejection> {
        if !self.has_asset || self.asset.is_empty() {
            return Err((
                RejectReason::MissingAssetId,
                format!("field `{}` is missing or empty", m.asset_field),
            ));
        }
        if !self.has_ts {
            return Err((
                RejectReason::MissingTimestamp,
                format!("field `{}` is missing", m.time_field),
            ));
        }
        if self.ts < m.min_ts_ms || self.ts >= m.max_ts_ms {
            return Err((
                RejectReason::BadTimestamp,
                format!(
                    "event time {} ms is outside the accepted range [{}, {})",
                    self.ts, m.min_ts_ms, m.max_ts_ms
                ),
            ));
        }
        if self.values.iter().all(Option::is_none) && self.wave_rate.iter().all(Option::is_none) {
            return Err((
                RejectReason::NoMeasurements,
                "none of the mapped measurements is present".into(),
            ));
        }
        Ok(())
    }

    fn fail<E: de::Error>(&mut self, reason: RejectReason, detail: String) -> E {
        let err = E::custom(&detail);
        if self.reject.is_none() {
            self.reject = Some((reason, detail));
        }
        err
    }
}

pub(super) type Rejection = (RejectReason, String);

/// Decodes one payload into `s`; on success `s` holds a complete, valid record.
pub(crate) fn decode_one(
    dec: &BatchDecoder,
    payload: Option<&[u8]>,
    s: &mut Scratch,
) -> Result<(), Rejection> {
    let m = dec.mapping();
    let p = match payload {
        None => {
            return Err((
                RejectReason::EmptyPayload,
                "record has no value (null payload)".into(),
            ))
        }
        Some(p) if p.iter().all(u8::is_ascii_whitespace) => {
            return Err((RejectReason::EmptyPayload, "payload is empty".into()))
        }
        Some(p) => p,
    };
    if p.len() > m.max_payload_bytes {
        return Err((
            RejectReason::Oversized,
            format!(
                "payload is {} bytes, the limit is {}",
                p.len(),
                m.max_payload_bytes
            ),
        ));
    }
    s.reset();
    if dec.fast_path() {
        if dec.shapes() && super::shape::decode_recent(dec, p, s) {
            return s.check(m);
        }
        if super::fast::decode(dec, p, s).is_some() {
            if dec.shapes() {
                super::shape::scanned(dec, p, s);
            }
            return s.check(m);
        }
    }
    if let Err(e) = std::str::from_utf8(p) {
        return Err((
            RejectReason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        ));
    }
    decode_general(dec, p, s)
}

/// Decodes a checked (sized, UTF-8) payload with the serde visitor, which names the reason of
/// any rejection.
pub(super) fn decode_general(
    dec: &BatchDecoder,
    p: &[u8],
    s: &mut Scratch,
) -> Result<(), Rejection> {
    let m = dec.mapping();
    s.reset();
    let mut de = serde_json::Deserializer::from_slice(p);
    let res = Top { dec, s: &mut *s }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = res {
        if let Some(r) = s.reject.take() {
            return Err(r);
        }
        let detail = e.to_string();
        let reason = if detail.contains("number out of range") {
            RejectReason::NonFinite
        } else {
            match e.classify() {
                serde_json::error::Category::Eof => RejectReason::Truncated,
                serde_json::error::Category::Data => RejectReason::NotAnObject,
                _ => RejectReason::MalformedJson,
            }
        };
        return Err((reason, detail));
    }
    s.check(m)
}

/// A string that borrows from the payload when it has no escapes.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A scalar value as the decoder sees it.
pub(super) enum Scalar<'de> {
    Null,
    Num(f64),
    Int(i64),
    Str(Cow<'de, str>),
    Other(&'static str),
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other("a boolean"))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v)
            .map(Scalar::Int)
            .unwrap_or(Scalar::Num(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an object"))
    }
}

fn describe(s: &Scalar<'_>) -> &'static str {
    match s {
        Scalar::Null => "null",
        Scalar::Num(_) | Scalar::Int(_) => "a number",
        Scalar::Str(_) => "a string",
        Scalar::Other(what) => what,
    }
}

struct Top<'a> {
    dec: &'a BatchDecoder,
    s: &'a mut Scratch,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let m = self.dec.mapping();
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let key = key.as_ref();
            if key == m.asset_field {
                match map.next_value_seed(ScalarSeed)? {
                    Scalar::Str(v) => self.s.asset.push_str(&v),
                    Scalar::Int(v) => self.s.asset.push_str(&v.to_string()),
                    other => {
                        let msg =
                            format!("field `{key}` must be a string, found {}", describe(&other));
                        return Err(self.s.fail(RejectReason::WrongType, msg));
                    }
                }
                self.s.has_asset = true;
            } else if key == m.time_field {
                let v = map.next_value_seed(ScalarSeed)?;
                self.s.ts = event_time(key, v, m.numeric_time)
                    .map_err(|(r, msg)| self.s.fail::<A::Error>(r, msg))?;
                self.s.has_ts = true;
            } else if let Some(slot) = self.dec.measurement_slot(key) {
                let v = map.next_value_seed(ScalarSeed)?;
                self.s.values[slot] =
                    measurement(key, v).map_err(|(r, msg)| self.s.fail::<A::Error>(r, msg))?;
            } else if let Some(slot) = self.dec.tag_slot(key) {
                let v = map.next_value_seed(ScalarSeed)?;
                self.s.tags[slot] =
                    tag(key, v).map_err(|(r, msg)| self.s.fail::<A::Error>(r, msg))?;
            } else if key == "measurements" {
                map.next_value_seed(Nested {
                    dec: self.dec,
                    s: &mut *self.s,
                    kind: NestedKind::Measurements,
                })?;
            } else if key == "tags" {
                map.next_value_seed(Nested {
                    dec: self.dec,
                    s: &mut *self.s,
                    kind: NestedKind::Tags,
                })?;
            } else if key == "waveforms" {
                map.next_value_seed(Nested {
                    dec: self.dec,
                    s: &mut *self.s,
                    kind: NestedKind::Waveforms,
                })?;
            } else if m.forbid_unknown {
                return Err(self
                    .s
                    .fail(RejectReason::UnknownField, format!("unknown field `{key}`")));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[inline]
pub(super) fn event_time(
    key: &str,
    v: Scalar<'_>,
    nt: super::NumericTime,
) -> Result<i64, Rejection> {
    let numeric = |n: i64| {
        nt.to_ms(n).ok_or_else(|| {
            (
                RejectReason::BadTimestamp,
                format!("field `{key}`: {n} is out of range"),
            )
        })
    };
    match v {
        Scalar::Int(n) => numeric(n),
        Scalar::Num(n) if n.is_finite() => numeric(n as i64),
        Scalar::Num(_) => Err((
            RejectReason::NonFinite,
            format!("field `{key}` is not a finite number"),
        )),
        Scalar::Str(text) => string_to_timestamp_nanos(&text)
            .map(|ns| ns.div_euclid(1_000_000))
            .map_err(|_| {
                (
                    RejectReason::BadTimestamp,
                    format!("field `{key}`: `{text}` is not an RFC 3339 timestamp"),
                )
            }),
        other => Err((
            RejectReason::WrongType,
            format!(
                "field `{key}` must be epoch milliseconds or an RFC 3339 string, found {}",
                describe(&other)
            ),
        )),
    }
}

#[inline]
pub(super) fn measurement(key: &str, v: Scalar<'_>) -> Result<Option<f64>, Rejection> {
    match v {
        Scalar::Null => Ok(None),
        Scalar::Int(x) => Ok(Some(x as f64)),
        Scalar::Num(x) if x.is_finite() => Ok(Some(x)),
        Scalar::Num(_) => Err((
            RejectReason::NonFinite,
            format!("measurement `{key}` is not finite"),
        )),
        other => Err((
            RejectReason::WrongType,
            format!(
                "measurement `{key}` must be a number, found {}",
                describe(&other)
            ),
        )),
    }
}

pub(super) fn tag(key: &str, v: Scalar<'_>) -> Result<Option<String>, Rejection> {
    match v {
        Scalar::Null => Ok(None),
        Scalar::Str(t) => Ok(Some(t.into_owned())),
        Scalar::Int(x) => Ok(Some(x.to_string())),
        other => Err((
            RejectReason::WrongType,
            format!("tag `{key}` must be a string, found {}", describe(&other)),
        )),
    }
}

enum NestedKind {
    Measurements,
    Tags,
    Waveforms,
}

impl NestedKind {
    fn name(&self) -> &'static str {
        match self {
            NestedKind::Measurements => "measurements",
            NestedKind::Tags => "tags",
            NestedKind::Waveforms => "waveforms",
        }
    }
}

struct Nested<'a> {
    dec: &'a BatchDecoder,
    s: &'a mut Scratch,
    kind: NestedKind,
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let key = key.as_ref();
            match self.kind {
                NestedKind::Measurements => match self.dec.measurement_slot(key) {
                    Some(slot) => {
                        let v = map.next_value_seed(ScalarSeed)?;
                        self.s.values[slot] = measurement(key, v)
                            .map_err(|(r, msg)| self.s.fail::<A::Error>(r, msg))?;
                    }
                    None if self.dec.mapping().forbid_unknown => {
                        return Err(self.s.fail(
                            RejectReason::UnknownField,
                            format!("unknown field `{key}` in `{}`", self.kind.name()),
                        ));
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
                NestedKind::Waveforms => match self.dec.waveform_slot(key) {
                    Some(slot) => {
                        map.next_value_seed(WaveformSeed {
                            s: &mut *self.s,
                            slot,
                            name: key,
                            max: self.dec.mapping().max_waveform_samples,
                        })?;
                        if self.s.wave_rate[slot].is_none() {
                            return Err(self.s.fail(
                                RejectReason::WrongType,
                                format!(
                                    "waveform `{key}` needs a positive `rate_hz` and `samples`"
                                ),
                            ));
                        }
                    }
                    None if self.dec.mapping().forbid_unknown => {
                        return Err(self.s.fail(
                            RejectReason::UnknownField,
                            format!("unknown field `{key}` in `{}`", self.kind.name()),
                        ));
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
                NestedKind::Tags => match self.dec.tag_slot(key) {
                    Some(slot) => {
                        let v = map.next_value_seed(ScalarSeed)?;
                        self.s.tags[slot] =
                            tag(key, v).map_err(|(r, msg)| self.s.fail::<A::Error>(r, msg))?;
                    }
                    None if self.dec.mapping().forbid_unknown => {
                        return Err(self.s.fail(
                            RejectReason::UnknownField,
                            format!("unknown field `{key}` in `{}`", self.kind.name()),
                        ));
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        let what = match self.kind {
            NestedKind::Measurements => "measurements",
            NestedKind::Tags => "tags",
            NestedKind::Waveforms => "waveforms",
        };
        Err(self.s.fail(
            RejectReason::WrongType,
            format!("field `{what}` must be an object, found an array"),
        ))
    }
}

/// One waveform snapshot: `{"rate_hz": <number>, "samples": [<number>, ...]}`.
struct WaveformSeed<'a, 'k> {
    s: &'a mut Scratch,
    slot: usize,
    name: &'k str,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for WaveformSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WaveformSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a waveform object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.s.fail(
            RejectReason::WrongType,
            format!("waveform `{}` is null", self.name),
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rate = None;
        let mut has_samples = false;
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            match key.as_ref() {
                "rate_hz" => match map.next_value_seed(ScalarSeed)? {
                    Scalar::Int(r) if r > 0 => rate = Some(r as f64),
                    Scalar::Num(r) if r.is_finite() && r > 0.0 => rate = Some(r),
                    _ => {
                        return Err(self.s.fail(
                            RejectReason::WrongType,
                            format!(
                                "waveform `{}`: `rate_hz` must be a positive number",
                                self.name
                            ),
                        ))
                    }
                },
                "samples" => {
                    map.next_value_seed(SamplesSeed {
                        s: &mut *self.s,
                        slot: self.slot,
                        name: self.name,
                        max: self.max,
                    })?;
                    has_samples = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if has_samples {
            self.s.wave_rate[self.slot] = rate;
        }
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.s.fail(
            RejectReason::WrongType,
            format!(
                "waveform `{}` must be an object with `rate_hz` and `samples`",
                self.name
            ),
        ))
    }
}

struct SamplesSeed<'a, 'k> {
    s: &'a mut Scratch,
    slot: usize,
    name: &'k str,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for SamplesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SamplesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element_seed(ScalarSeed)? {
            let x = match v {
                Scalar::Int(x) => x as f64,
                Scalar::Num(x) if x.is_finite() => x,
                Scalar::Num(_) => {
                    return Err(self.s.fail(
                        RejectReason::NonFinite,
                        format!("waveform `{}` has a non-finite sample", self.name),
                    ))
                }
                other => {
                    return Err(self.s.fail(
                        RejectReason::WrongType,
                        format!(
                            "waveform `{}` samples must be numbers, found {}",
                            self.name,
                            describe(&other)
                        ),
                    ))
                }
            };
            let buf = &mut self.s.wave_samples[self.slot];
            if buf.len() >= self.max {
                return Err(self.s.fail(
                    RejectReason::Oversized,
                    format!(
                        "waveform `{}` has more than {} samples",
                        self.name, self.max
                    ),
                ));
            }
            buf.push(x);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.s.fail(
            RejectReason::WrongType,
            format!("waveform `{}` samples must be an array", self.name),
        ))
    }
}
