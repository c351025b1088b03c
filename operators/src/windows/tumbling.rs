//! Tumbling windows: fixed, non-overlapping, epoch-aligned windows of one size.
//!
//! A tumbling window is a hopping window whose slide equals its size, so it is stored as exactly
//! one pane of the [`super::hopping`] store and every reading belongs to exactly one window
//! `[floor(ts / size) * size, + size)`.

use super::WindowKind;
use crate::{OperatorError, Window, WindowSpec};

/// The window kind for tumbling windows of `size_ms`.
pub fn tumbling(size_ms: i64) -> Result<WindowKind, OperatorError> {
    let spec = WindowSpec::tumbling(size_ms)?;
    Ok(WindowKind::Fixed {
        size_ms: spec.size_ms(),
        slide_ms: spec.slide_ms(),
    })
}

/// The one tumbling window of `size_ms` containing `ts`.
pub fn window_of(ts: i64, size_ms: i64) -> Window {
    let start = ts.div_euclid(size_ms) * size_ms;
    Window {
        start,
        end: start + size_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{batch, rows_of};
    use crate::windows::{Bounds, PaneStore};

    #[test]
    fn one_window_per_reading_and_late_after_close() {
        assert_eq!(window_of(-1, 60), Window { start: -60, end: 0 });
        assert!(tumbling(0).is_err());
        let mut s = PaneStore::new(WindowSpec::tumbling(10).unwrap(), false);
        let b = batch(&[("a", 1, 1.0), ("b", 5, 2.0), ("a", 11, 3.0)]);
        s.insert(&b, &[0, 1, 2]).unwrap();
        assert!(s.close_until(9).is_empty());
        let closed = s.close_until(12);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            closed[0].bounds,
            Bounds::Fixed(Window { start: 0, end: 10 })
        );
        assert_eq!(rows_of(closed[0].raw_batches()).len(), 2);
        assert!(s.is_late(9));
        assert!(!s.is_late(10));
        let rest = s.flush();
        assert_eq!(rest.len(), 1);
        assert_eq!(rows_of(rest[0].raw_batches())[0].1, 11);
    }
}
