//! The result rows guard: a query may return at most `max_result_rows` rows.
//!
//! At planning, a plan whose exact row count (from statistics) is over the
//! limit is refused. Otherwise the server counts the rows it streams with a
//! [`ResultRowBudget`], which fails as soon as the count passes the limit:
//! the rows already sent stand, no row past the limit is sent.
//!
//! The count is not a plan node wrapping the plan's root: a node of this
//! crate above the host's nodes would run them with a task context rebuilt
//! across the FFI, without the session's memory pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion_common::config::ConfigOptions;
use datafusion_common::stats::Precision;
use datafusion_common::{DataFusionError, Result};
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

use crate::POLICY_ERROR_PREFIX;

#[derive(Debug)]
pub struct ResultRowsGuard {
    max_rows: Option<u64>,
}

impl ResultRowsGuard {
    pub const NAME: &'static str = "flightserver.result_rows";

    pub fn new(max_rows: Option<u64>) -> Self {
        Self { max_rows }
    }
}

fn over_limit(rows: u64, max_rows: u64) -> DataFusionError {
    DataFusionError::Execution(format!(
        "{POLICY_ERROR_PREFIX} rule {}: the result has more than {max_rows} rows ({rows} so far), over the limit of {max_rows} rows",
        ResultRowsGuard::NAME
    ))
}

impl PhysicalOptimizerRule for ResultRowsGuard {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(max_rows) = self.max_rows else {
            return Ok(plan);
        };
        let exact_rows = StatisticsContext::new()
            .compute(plan.as_ref(), &StatisticsArgs::new())
            .ok()
            .and_then(|stats| match stats.num_rows {
                Precision::Exact(rows) => Some(rows),
                _ => None,
            });
        if let Some(rows) = exact_rows
            && rows as u64 > max_rows
        {
            return Err(DataFusionError::Plan(format!(
                "{POLICY_ERROR_PREFIX} rule {}: the result would have {rows} rows, over the limit of {max_rows} rows",
                Self::NAME
            )));
        }
        Ok(plan)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Counts one result's rows, over all the streams that serve it.
#[derive(Debug)]
pub struct ResultRowBudget {
    max_rows: u64,
    rows: AtomicU64,
}

impl ResultRowBudget {
    pub fn new(max_rows: u64) -> Self {
        Self {
            max_rows,
            rows: AtomicU64::new(0),
        }
    }

    /// Counts `rows` more; an error once the result is over the limit.
    pub fn count(&self, rows: u64) -> Result<()> {
        let total = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        if total > self.max_rows {
            return Err(over_limit(total, self.max_rows));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema};
    use datafusion_common::arrow::array::{Int64Array, RecordBatch};
    use datafusion_common::{ColumnStatistics, Statistics};
    use datafusion_physical_plan::test::TestMemoryExec;
    use datafusion_physical_plan::test::exec::StatisticsExec;

    /// Two partitions with these numbers of rows (the row count is exact).
    fn two_partitions(first: usize, second: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let batch = |n: usize| {
            let values: Vec<i64> = (0..n as i64).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(values))],
            )
            .unwrap()
        };
        TestMemoryExec::try_new_exec(&[vec![batch(first)], vec![batch(second)]], schema, None)
            .unwrap()
    }

    fn guarded(plan: Arc<dyn ExecutionPlan>, max_rows: u64) -> Result<Arc<dyn ExecutionPlan>> {
        ResultRowsGuard::new(Some(max_rows)).optimize(plan, &ConfigOptions::new())
    }

    #[test]
    fn plans_are_left_as_they_are() {
        let plan = two_partitions(3, 3);
        for guard in [ResultRowsGuard::new(None), ResultRowsGuard::new(Some(9))] {
            let out = guard
                .optimize(Arc::clone(&plan), &ConfigOptions::new())
                .unwrap();
            assert!(Arc::ptr_eq(&plan, &out));
        }
    }

    #[test]
    fn the_budget_counts_across_streams_and_names_the_rule() {
        let budget = ResultRowBudget::new(6);
        budget.count(5).unwrap();
        budget.count(1).unwrap();
        let err = budget.count(1).unwrap_err().to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(err.contains(ResultRowsGuard::NAME), "{err}");
        assert!(err.contains("over the limit of 6 rows"), "{err}");
    }

    #[test]
    fn exact_statistics_over_the_limit_are_refused_at_planning() {
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let stats = |rows| Statistics {
            num_rows: rows,
            total_byte_size: Precision::Absent,
            column_statistics: vec![ColumnStatistics::new_unknown()],
        };
        let err = guarded(two_partitions(5, 5), 6).unwrap_err().to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(
            err.contains("would have 10 rows, over the limit of 6 rows"),
            "{err}"
        );
        // An estimate is not proof: it is left to the count while streaming.
        let inexact: Arc<dyn ExecutionPlan> =
            Arc::new(StatisticsExec::new(stats(Precision::Inexact(100)), schema));
        assert!(guarded(inexact, 10).is_ok());
    }
}
