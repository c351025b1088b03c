//! Plumbing shared by Vigil's aggregate functions: a [`Stat`] (a streaming statistic with a
//! mergeable state) becomes a DataFusion aggregate UDF through [`StatUdaf`].
//!
//! Inputs are cast to `Float64` (and the optional event-time argument to `Int64` milliseconds);
//! NULL and non-finite values (NaN, ±inf) are skipped, so one bad sample never poisons a window.
//! The state DataFusion moves between the partial and final phases is exactly [`Stat::state`],
//! and [`Stat::merge_row`] must combine two states as if their inputs had been seen in one pass.

use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

/// A streaming statistic.
pub trait Stat: Debug + Default + Send + Sync + 'static {
    /// Name and type of each state field.
    fn state_fields() -> Vec<(&'static str, DataType)>;
    /// Feeds one finite value stamped `t` (event time, ms; 0 when the function takes no time).
    fn add(&mut self, x: f64, t: i64);
    /// Merges row `row` of the state columns `states` into this state.
    fn merge_row(&mut self, states: &[ArrayRef], row: usize);
    /// The state, one value per state field.
    fn state(&self) -> Vec<ScalarValue>;
    /// The result, `None` when undefined (no values, or too few for the statistic).
    fn value(&self) -> Option<f64>;
    /// Heap bytes held (for DataFusion's memory accounting).
    fn heap_size(&self) -> usize {
        0
    }
}

/// `Float64` state value `col` of row `row` (0 when null).
pub fn f64_at(states: &[ArrayRef], col: usize, row: usize) -> f64 {
    match states
        .get(col)
        .and_then(|c| c.as_primitive_opt::<Float64Type>())
    {
        Some(a) if a.is_valid(row) => a.value(row),
        _ => 0.0,
    }
}

/// A [`Stat`] as a DataFusion aggregate function.
pub struct StatUdaf<S> {
    name: &'static str,
    takes_time: bool,
    signature: Signature,
    _stat: PhantomData<fn() -> S>,
}

impl<S> Debug for StatUdaf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatUdaf")
            .field("name", &self.name)
            .finish()
    }
}

impl<S> PartialEq for StatUdaf<S> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<S> Eq for StatUdaf<S> {}

impl<S> Hash for StatUdaf<S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl<S: Stat> StatUdaf<S> {
    /// `name(x)`, or `name(x, ts)` when `takes_time`.
    pub fn new(name: &'static str, takes_time: bool) -> Self {
        let signature = Signature::new(
            TypeSignature::Any(if takes_time { 2 } else { 1 }),
            Volatility::Immutable,
        );
        StatUdaf {
            name,
            takes_time,
            signature,
            _stat: PhantomData,
        }
    }
}

impl<S: Stat> AggregateUDFImpl for StatUdaf<S> {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args[0].is_numeric() && args[0] != DataType::Null {
            return datafusion::common::plan_err!(
                "{}: the value must be numeric, not {}",
                self.name,
                args[0]
            );
        }
        if self.takes_time
            && !matches!(
                args.get(1),
                Some(DataType::Timestamp(_, _) | DataType::Int64 | DataType::Null)
            )
        {
            return datafusion::common::plan_err!(
                "{}: the second argument must be the event time (`ts`)",
                self.name
            );
        }
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(StatAccumulator::<S> {
            stat: S::default(),
            takes_time: self.takes_time,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(S::state_fields()
            .into_iter()
            .map(|(n, t)| Arc::new(Field::new(format!("{}[{n}]", args.name), t, true)))
            .collect())
    }
}

#[derive(Debug)]
struct StatAccumulator<S> {
    stat: S,
    takes_time: bool,
}

impl<S: Stat> Accumulator for StatAccumulator<S> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let x = cast(&values[0], &DataType::Float64)?;
        let x = x.as_primitive::<Float64Type>();
        let t = if self.takes_time {
            let t = match values[1].data_type() {
                DataType::Timestamp(_, _) => cast(
                    &cast(
                        &values[1],
                        &DataType::Timestamp(
                            datafusion::arrow::datatypes::TimeUnit::Millisecond,
                            None,
                        ),
                    )?,
                    &DataType::Int64,
                )?,
                _ => cast(&values[1], &DataType::Int64)?,
            };
            Some(t)
        } else {
            None
        };
        let t = t.as_ref().map(|t| t.as_primitive::<Int64Type>());
        for i in 0..x.len() {
            if x.is_null(i) || !x.value(i).is_finite() {
                continue;
            }
            let ti = match t {
                Some(t) if t.is_null(i) => continue,
                Some(t) => t.value(i),
                None => 0,
            };
            self.stat.add(x.value(i), ti);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.stat.value()))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.stat.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.stat.state())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |s| s.len());
        for row in 0..n {
            self.stat.merge_row(states, row);
        }
        Ok(())
    }
}
