//! Window assignment: pure functions from an event time to panes and windows.
//!
//! Windows are aligned to the Unix epoch and shared by all assets (the feature SQL groups by
//! asset). A tumbling window is a hopping window whose slide equals its size. Readings are stored
//! once per *pane* (a slide-long interval); a window is the union of `size / slide` panes.

use crate::OperatorError;

/// A half-open event-time interval `[start, end)` in UTC milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

/// Window shape: size and slide in milliseconds (`slide == size` for tumbling windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    size_ms: i64,
    slide_ms: i64,
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`.
    pub fn tumbling(size_ms: i64) -> Result<Self, OperatorError> {
        Self::hopping(size_ms, size_ms)
    }

    /// Hopping windows of `size_ms` starting every `slide_ms`; `size_ms` must be a multiple of
    /// `slide_ms` so windows are whole panes.
    pub fn hopping(size_ms: i64, slide_ms: i64) -> Result<Self, OperatorError> {
        if size_ms <= 0 || slide_ms <= 0 {
            return Err(OperatorError::InvalidWindow(
                "size and slide must be positive".into(),
            ));
        }
        if slide_ms > size_ms {
            return Err(OperatorError::InvalidWindow(format!(
                "slide ({slide_ms} ms) must not exceed size ({size_ms} ms)"
            )));
        }
        if size_ms % slide_ms != 0 {
            return Err(OperatorError::InvalidWindow(format!(
                "size ({size_ms} ms) must be a multiple of slide ({slide_ms} ms)"
            )));
        }
        Ok(WindowSpec { size_ms, slide_ms })
    }

    /// Window size in ms.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// Window slide in ms.
    pub fn slide_ms(&self) -> i64 {
        self.slide_ms
    }

    /// Start of the pane holding `ts`.
    pub fn pane_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.slide_ms) * self.slide_ms
    }

    /// The windows that contain `ts`, earliest first.
    pub fn windows_of(&self, ts: i64) -> impl Iterator<Item = Window> + '_ {
        let last_start = self.pane_start(ts);
        let n = self.size_ms / self.slide_ms;
        (0..n).rev().map(move |k| {
            let start = last_start - k * self.slide_ms;
            Window {
                start,
                end: start + self.size_ms,
            }
        })
    }

    /// End of the latest window that contains a reading stamped `ts`.
    pub fn last_end_of(&self, ts: i64) -> i64 {
        self.pane_start(ts) + self.size_ms
    }

    /// The window ending at `end` (which must be slide-aligned).
    pub fn window_ending(&self, end: i64) -> Window {
        Window {
            start: end - self.size_ms,
            end,
        }
    }

    /// Largest slide-aligned instant `<= t`: the last window end reachable at watermark `t`.
    pub fn aligned_floor(&self, t: i64) -> i64 {
        t.div_euclid(self.slide_ms) * self.slide_ms
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rejects_unusable_shapes() {
        assert!(WindowSpec::tumbling(0).is_err());
        assert!(WindowSpec::hopping(10, 20).is_err());
        assert!(WindowSpec::hopping(10, 3).is_err());
        assert!(WindowSpec::hopping(10, 5).is_ok());
    }

    #[test]
    fn tumbling_has_one_window_per_reading() {
        let w = WindowSpec::tumbling(60_000).unwrap();
        let ws: Vec<_> = w.windows_of(61_000).collect();
        assert_eq!(
            ws,
            vec![Window {
                start: 60_000,
                end: 120_000
            }]
        );
        let neg: Vec<_> = w.windows_of(-1).collect();
        assert_eq!(
            neg,
            vec![Window {
                start: -60_000,
                end: 0
            }]
        );
    }

    proptest! {
        /// Reference: a window [s, s+size) with s a multiple of slide contains ts iff s <= ts < s+size.
        #[test]
        fn windows_of_matches_brute_force(ts in -1_000_000i64..1_000_000, slide in 1i64..50, k in 1i64..6) {
            let size = slide * k;
            let spec = WindowSpec::hopping(size, slide).unwrap();
            let got: Vec<Window> = spec.windows_of(ts).collect();
            let lo = (ts - size).div_euclid(slide) - 1;
            let hi = ts.div_euclid(slide) + 1;
            let want: Vec<Window> = (lo..=hi)
                .map(|i| Window { start: i * slide, end: i * slide + size })
                .filter(|w| w.start <= ts && ts < w.end)
                .collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(spec.last_end_of(ts), spec.windows_of(ts).last().unwrap().end);
        }
    }
}
