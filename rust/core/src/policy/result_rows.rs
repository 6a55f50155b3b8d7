//! The result rows guard: a query may return at most `max_result_rows` rows.
//!
//! At planning, a plan whose exact row count (from statistics) is over the
//! limit is refused. Otherwise the plan's root is wrapped in
//! [`ResultRowsLimitExec`], which counts rows across all output partitions
//! and fails the stream as soon as the count passes the limit: the rows
//! already sent stand, no row past the limit is produced.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion_common::config::ConfigOptions;
use datafusion_common::stats::Precision;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_common::{DataFusionError, Result, Statistics};
use datafusion_execution::TaskContext;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_physical_plan::{ChildStats, StatisticsArgs};
use datafusion_physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream, StatisticsContext,
};
use futures::StreamExt;

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
        // Already guarded (a plan optimized twice); over the FFI the node may
        // come back as a foreign plan, so it is known by name.
        if plan.name() == ResultRowsLimitExec::NAME {
            return Ok(plan);
        }
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
        Ok(Arc::new(ResultRowsLimitExec::new(plan, max_rows)))
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        // The wrapper yields its input's schema.
        true
    }
}

/// Passes its input through and fails once more than `max_rows` rows have
/// passed, counting over all partitions of one execution.
#[derive(Debug)]
pub struct ResultRowsLimitExec {
    input: Arc<dyn ExecutionPlan>,
    max_rows: u64,
    rows: Arc<AtomicU64>,
}

impl ResultRowsLimitExec {
    pub const NAME: &'static str = "ResultRowsLimitExec";

    pub fn new(input: Arc<dyn ExecutionPlan>, max_rows: u64) -> Self {
        Self {
            input,
            max_rows,
            rows: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl DisplayAs for ResultRowsLimitExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: max_rows={}", Self::NAME, self.max_rows)
    }
}

impl ExecutionPlan for ResultRowsLimitExec {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "{} takes one child, got {}",
                Self::NAME,
                children.len()
            )));
        }
        Ok(Arc::new(Self::new(children.swap_remove(0), self.max_rows)))
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(Arc::clone(&self.input), self.max_rows)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let rows = Arc::clone(&self.rows);
        let max_rows = self.max_rows;
        let limited = input.map(move |batch| {
            let batch = batch?;
            let added = batch.num_rows() as u64;
            let total = rows.fetch_add(added, Ordering::Relaxed) + added;
            if total > max_rows {
                return Err(over_limit(total, max_rows));
            }
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, limited)))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&input_stats[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema};
    use datafusion_common::ColumnStatistics;
    use datafusion_common::arrow::array::{Int64Array, RecordBatch};
    use datafusion_physical_plan::test::TestMemoryExec;
    use datafusion_physical_plan::test::exec::StatisticsExec;

    fn batches(sizes: &[usize]) -> (Arc<Schema>, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let batches = sizes
            .iter()
            .map(|n| {
                let values: Vec<i64> = (0..*n as i64).collect();
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int64Array::from(values))],
                )
                .unwrap()
            })
            .collect();
        (schema, batches)
    }

    /// Two partitions, with these batch sizes each (its row count is exact).
    fn two_partitions(first: &[usize], second: &[usize]) -> Arc<dyn ExecutionPlan> {
        let (schema, a) = batches(first);
        let (_, b) = batches(second);
        TestMemoryExec::try_new_exec(&[a, b], schema, None).unwrap()
    }

    /// Runs every partition of `plan` to its end; the rows produced, or the first error.
    fn run(plan: &Arc<dyn ExecutionPlan>) -> Result<usize> {
        let context = Arc::new(TaskContext::default());
        let partitions = plan.properties().output_partitioning().partition_count();
        let mut rows = 0;
        for partition in 0..partitions {
            let mut stream = plan.execute(partition, Arc::clone(&context))?;
            while let Some(batch) = futures::executor::block_on(stream.next()) {
                rows += batch?.num_rows();
            }
        }
        Ok(rows)
    }

    fn guarded(plan: Arc<dyn ExecutionPlan>, max_rows: u64) -> Result<Arc<dyn ExecutionPlan>> {
        ResultRowsGuard::new(Some(max_rows)).optimize(plan, &ConfigOptions::new())
    }

    #[test]
    fn no_limit_leaves_the_plan_alone() {
        let plan = two_partitions(&[3], &[3]);
        let out = ResultRowsGuard::new(None)
            .optimize(Arc::clone(&plan), &ConfigOptions::new())
            .unwrap();
        assert!(Arc::ptr_eq(&plan, &out));
    }

    #[test]
    fn results_within_the_limit_pass_whole() {
        let plan = guarded(two_partitions(&[3, 2], &[4]), 9).unwrap();
        assert_eq!(plan.name(), ResultRowsLimitExec::NAME);
        assert_eq!(run(&plan).unwrap(), 9);
    }

    /// The node alone, as the guard leaves it when statistics are not exact.
    fn limited(plan: Arc<dyn ExecutionPlan>, max_rows: u64) -> Arc<dyn ExecutionPlan> {
        Arc::new(ResultRowsLimitExec::new(plan, max_rows))
    }

    #[test]
    fn the_limit_counts_across_partitions() {
        // 5 rows in each partition: each alone fits 6, together they do not.
        let plan = limited(two_partitions(&[5], &[5]), 6);
        let err = run(&plan).unwrap_err().to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(err.contains(ResultRowsGuard::NAME), "{err}");
        assert!(err.contains("over the limit of 6 rows"), "{err}");
    }

    #[test]
    fn a_fresh_execution_counts_from_zero() {
        let plan = limited(two_partitions(&[2], &[2]), 4);
        assert_eq!(run(&plan).unwrap(), 4);
        let again = Arc::clone(&plan).reset_state().unwrap();
        assert_eq!(run(&again).unwrap(), 4);
    }

    #[test]
    fn the_guard_wraps_only_once() {
        let once = guarded(two_partitions(&[1], &[1]), 4).unwrap();
        let twice = guarded(Arc::clone(&once), 4).unwrap();
        assert!(Arc::ptr_eq(&once, &twice));
    }

    #[test]
    fn exact_statistics_over_the_limit_are_refused_at_planning() {
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let stats = |rows| Statistics {
            num_rows: rows,
            total_byte_size: Precision::Absent,
            column_statistics: vec![ColumnStatistics::new_unknown()],
        };
        let err = guarded(two_partitions(&[5], &[5]), 6)
            .unwrap_err()
            .to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(
            err.contains("would have 10 rows, over the limit of 6 rows"),
            "{err}"
        );
        // An estimate is not proof: it is left to the count at execution.
        let inexact: Arc<dyn ExecutionPlan> =
            Arc::new(StatisticsExec::new(stats(Precision::Inexact(100)), schema));
        assert!(guarded(inexact, 10).is_ok());
    }
}
