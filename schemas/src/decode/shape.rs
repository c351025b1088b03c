//! The fastest path of the JSON decoder: a payload laid out byte for byte like one the scanner
//! already read, but for its values.
//!
//! A producer writes every reading with the same code, so its payloads differ only in their
//! values: the keys, their order, the punctuation and the whitespace repeat. After the scanner
//! ([`super::fast`]) accepts a payload, [`Shape::learn`] records the bytes between its values
//! and which field each value fills. [`Shape::decode`] checks a later payload against those
//! bytes and reads only the values, with the scanner's own number and string readers and the
//! field rules for numbers, in the same order. Bytes equal to a payload the scanner took, values read by
//! the scanner's readers: it takes exactly what the scanner would take and fills the scratch
//! the same way. At the first byte that differs it gives up and the scanner reads the payload.
//! A property test holds the two to that.
//!
//! Shapes cover flat or `measurements`-nested readings whose values are numbers, except the
//! asset id, a string; a payload with tags, `null`, string times or waveforms teaches none.
//!
//! Why: in `vigil bench kafka` matching keys and dispatching on them were about half of the
//! scanner's time.

use super::fast::{measurement_slot, same, Cursor, Number};
use super::json::Scratch;
use super::BatchDecoder;

/// After this many payloads in a row that the shape did not take (or after a payload that
/// taught none), the next payload the scanner takes is learned: a stream that changed its
/// layout gets a new shape, a stream of two interleaved layouts keeps the one it has, and one
/// without a shape tries to learn once in this many payloads.
const RELEARN_AFTER: u32 = 8;

/// What a decoder's scratch remembers of recent payloads: their layout, and how many payloads
/// in a row it did not take.
#[derive(Debug)]
pub(super) struct Recent {
    shape: Option<Shape>,
    misses: u32,
}

impl Default for Recent {
    /// No layout yet; the first payload the scanner takes is learned.
    fn default() -> Self {
        Recent {
            shape: None,
            misses: RELEARN_AFTER,
        }
    }
}

/// Decodes `p` into `s` (already reset) by the layout of recent payloads; `false` if it does
/// not have that layout (then `s` is reset again, for the scanner).
#[inline]
pub(super) fn decode_recent(dec: &BatchDecoder, p: &[u8], s: &mut Scratch) -> bool {
    let shape = s.recent.shape.take();
    let hit = shape
        .as_ref()
        .is_some_and(|sh| sh.decode(dec, p, s).is_some());
    if shape.is_some() && !hit {
        s.reset();
    }
    s.recent.shape = shape;
    s.recent.misses = if hit {
        0
    } else {
        s.recent.misses.saturating_add(1)
    };
    hit
}

/// After the scanner took `p`: learns its layout if recent payloads missed often enough.
#[inline]
pub(super) fn scanned(dec: &BatchDecoder, p: &[u8], s: &mut Scratch) {
    if s.recent.misses >= RELEARN_AFTER {
        s.recent.shape = Shape::learn(dec, p);
        s.recent.misses = 0;
    }
}

/// What a value of the shape fills.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// The asset id: a string, whose opening quote ends the literal before it.
    Asset,
    /// The event time: a number.
    Time,
    /// A mapped measurement: a number.
    Measurement(usize),
    /// A field the mapping does not name: a number, read and dropped.
    Skip,
}

/// The layout of one payload: a literal, then for each value the value and a literal.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Shape {
    /// The literals, concatenated.
    bytes: Vec<u8>,
    /// Where each literal ends in `bytes` (one more than there are slots).
    ends: Vec<usize>,
    /// What each value fills, in payload order.
    slots: Vec<Slot>,
}

impl Shape {
    /// The shape of `p`, a payload the scanner accepted; `None` if its layout has a value a
    /// shape does not cover.
    pub(super) fn learn(dec: &BatchDecoder, p: &[u8]) -> Option<Shape> {
        let m = dec.mapping();
        let mut c = Cursor { b: p, i: 0 };
        let mut spans: Vec<(usize, usize, Slot)> = Vec::new();
        let mut next = 0;
        c.ws();
        c.eat(b'{')?;
        c.ws();
        if c.eat_if(b'}') {
            return None;
        }
        // the scanner's order of tests, so every key lands where the scanner puts it
        loop {
            let key = c.key()?;
            if dec.nested_first() && key == b"measurements" {
                nested(&mut c, dec, &mut spans, &mut next)?;
            } else if same(key, &m.asset_field) {
                c.eat(b'"')?;
                let start = c.i;
                std::str::from_utf8(c.string_body()?).ok()?;
                spans.push((start, c.i, Slot::Asset));
            } else if same(key, &m.time_field) {
                spans.push(number(&mut c, Slot::Time)?);
            } else if let Some(slot) = measurement_slot(dec, key, &mut next)? {
                spans.push(number(&mut c, Slot::Measurement(slot))?);
            } else if dec.tag_slot(super::fast::text(key)?).is_some() {
                return None;
            } else if key == b"measurements" {
                nested(&mut c, dec, &mut spans, &mut next)?;
            } else if key == b"tags" || key == b"waveforms" || m.forbid_unknown {
                return None;
            } else {
                spans.push(number(&mut c, Slot::Skip)?);
            }
            if c.member_end()? {
                break;
            }
        }
        c.ws();
        if c.i != p.len() {
            return None;
        }
        let mut shape = Shape {
            bytes: Vec::with_capacity(p.len()),
            ends: Vec::with_capacity(spans.len() + 1),
            slots: Vec::with_capacity(spans.len()),
        };
        let mut from = 0;
        for (start, end, slot) in spans {
            shape.bytes.extend_from_slice(p.get(from..start)?);
            shape.ends.push(shape.bytes.len());
            shape.slots.push(slot);
            from = end;
        }
        shape.bytes.extend_from_slice(p.get(from..)?);
        shape.ends.push(shape.bytes.len());
        Some(shape)
    }

    /// Decodes `p` into `s` (already reset) if it has this shape; `None` if the caller must use
    /// the scanner (then `s` holds garbage and must be reset).
    pub(super) fn decode(&self, dec: &BatchDecoder, p: &[u8], s: &mut Scratch) -> Option<()> {
        let m = dec.mapping();
        let mut c = Cursor { b: p, i: 0 };
        let mut from = 0;
        for (slot, &to) in self.slots.iter().zip(&self.ends) {
            literal(&mut c, self.bytes.get(from..to)?)?;
            from = to;
            match *slot {
                Slot::Asset => {
                    s.asset
                        .push_str(std::str::from_utf8(c.string_body()?).ok()?);
                    s.has_asset = true;
                }
                // the field rules of `json::event_time` and `json::measurement` for a number
                // (`num` only returns finite floats), inline
                Slot::Time => {
                    let n = match c.num()? {
                        Number::Int(n) => n,
                        Number::Float(x) => x as i64,
                    };
                    s.ts = m.numeric_time.to_ms(n)?;
                    s.has_ts = true;
                }
                Slot::Measurement(i) => {
                    *s.values.get_mut(i)? = Some(match c.num()? {
                        Number::Int(v) => v as f64,
                        Number::Float(x) => x,
                    });
                }
                Slot::Skip => {
                    c.num()?;
                }
            }
        }
        literal(&mut c, self.bytes.get(from..)?)?;
        (c.i == p.len()).then_some(())
    }
}

/// A number value's span.
fn number(c: &mut Cursor<'_>, slot: Slot) -> Option<(usize, usize, Slot)> {
    let start = c.i;
    c.number()?;
    Some((start, c.i, slot))
}

/// The `measurements` object, at its opening brace: every member a number.
fn nested(
    c: &mut Cursor<'_>,
    dec: &BatchDecoder,
    spans: &mut Vec<(usize, usize, Slot)>,
    next: &mut usize,
) -> Option<()> {
    let forbid = dec.mapping().forbid_unknown;
    c.object(|c, k| {
        let slot = match measurement_slot(dec, k, next)? {
            Some(slot) => Slot::Measurement(slot),
            None if forbid => return None,
            None => Slot::Skip,
        };
        spans.push(number(c, slot)?);
        Some(())
    })
}

/// Steps over `lit` if the payload continues with it.
fn literal(c: &mut Cursor<'_>, lit: &[u8]) -> Option<()> {
    let end = c.i.checked_add(lit.len())?;
    let got = c.b.get(c.i..end)?;
    same_bytes(got, lit).then(|| c.i = end)
}

/// Equal slices of equal length, compared eight bytes at a time (the last eight overlapping)
/// and inline: the literals are short, and a `memcmp` call costs more than comparing them.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
    let mut at = 0;
    while at + 8 <= n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    at == n || word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests;
