//! The watermark: how far event time has certainly progressed.
//!
//! It is the maximum event time seen minus the allowed out-of-orderness, and it never goes
//! backwards. A window closes when the watermark reaches its end.

/// Monotonic event-time watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    out_of_orderness_ms: i64,
    max_event_ts: Option<i64>,
}

impl Watermark {
    /// A watermark trailing the maximum event time by `out_of_orderness_ms`.
    pub fn new(out_of_orderness_ms: i64) -> Self {
        Watermark {
            out_of_orderness_ms: out_of_orderness_ms.max(0),
            max_event_ts: None,
        }
    }

    /// Observes an event time; returns the (possibly advanced) watermark.
    pub fn observe(&mut self, ts: i64) -> Option<i64> {
        self.max_event_ts = Some(self.max_event_ts.map_or(ts, |m| m.max(ts)));
        self.current()
    }

    /// The current watermark, `None` before any event.
    pub fn current(&self) -> Option<i64> {
        self.max_event_ts
            .map(|m| m.saturating_sub(self.out_of_orderness_ms))
    }

    /// The largest event time seen.
    pub fn max_event_ts(&self) -> Option<i64> {
        self.max_event_ts
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_goes_backwards_and_trails_the_max(events in proptest::collection::vec(-10_000i64..10_000, 1..200), ooo in 0i64..500) {
            let mut w = Watermark::new(ooo);
            let mut prev = i64::MIN;
            for (i, ts) in events.iter().enumerate() {
                let now = w.observe(*ts).unwrap();
                prop_assert!(now >= prev);
                prop_assert_eq!(now, events[..=i].iter().max().unwrap() - ooo);
                prev = now;
            }
        }
    }
}
