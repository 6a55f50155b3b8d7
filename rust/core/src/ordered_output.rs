//! The ordered output rule: a result keeps the order its plan sorts it in.
//!
//! A projection the host adds over a query (the client-type casts of JDBC
//! results) sits above the plan's final sort. DataFusion's round-robin
//! repartitioning then spreads that sort's one ordered stream over several
//! partitions to run the projection in parallel; the root requires no order,
//! so the merged result comes out scrambled. This rule drops such a
//! repartitioning under the projections at the root: they run on the one
//! ordered stream. It recognises nodes by name and rebuilds them with
//! `replace_children`, as the host's plans reach it through DataFusion's FFI
//! (no downcasts), and adds no nodes of its own.

use std::sync::Arc;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    ReplaceChildrenOptions,
};

/// Keeps the root's order through the projections on top; see the module documentation.
#[derive(Debug, Default)]
pub struct OrderedOutput;

impl OrderedOutput {
    pub const NAME: &'static str = "flightserver.ordered_output";
}

impl PhysicalOptimizerRule for OrderedOutput {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        keep_order(plan)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn keep_order(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.name() != "ProjectionExec" || plan.children().len() != 1 {
        return Ok(plan);
    }
    let input = Arc::clone(plan.children()[0]);
    let kept = keep_order(Arc::clone(&input))?;
    let kept = ordered_input(&kept).unwrap_or(kept);
    if Arc::ptr_eq(&kept, &input) {
        return Ok(plan);
    }
    plan.replace_children(
        vec![kept],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )
}

/// The one ordered partition a round-robin repartitioning spreads, if `plan` is one.
fn ordered_input(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if plan.name() != "RepartitionExec" || plan.children().len() != 1 {
        return None;
    }
    let input = plan.children()[0];
    let round_robin = matches!(plan.output_partitioning(), Partitioning::RoundRobinBatch(_));
    let one_ordered =
        input.output_partitioning().partition_count() == 1 && input.output_ordering().is_some();
    (round_robin && one_ordered).then(|| Arc::clone(input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::{CastExpr, col};
    use datafusion_physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion_physical_plan::empty::EmptyExec;
    use datafusion_physical_plan::projection::ProjectionExec;
    use datafusion_physical_plan::projection::ProjectionExpr;
    use datafusion_physical_plan::repartition::RepartitionExec;
    use datafusion_physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::UInt32, true),
            Field::new("b", DataType::Utf8View, true),
        ]))
    }

    /// Casts a over [RoundRobin over] a merge sorted by `a`, as the host plans them.
    fn cast_over_merge(round_robin: bool) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = schema();
        let source: Arc<dyn ExecutionPlan> =
            Arc::new(EmptyExec::new(Arc::clone(&schema)).with_partitions(4));
        let ordering = LexOrdering::new(vec![PhysicalSortExpr::new_default(col("a", &schema)?)])
            .expect("one sort expression");
        let mut merged: Arc<dyn ExecutionPlan> =
            Arc::new(SortPreservingMergeExec::new(ordering, source));
        if round_robin {
            merged = Arc::new(RepartitionExec::try_new(
                merged,
                Partitioning::RoundRobinBatch(4),
            )?);
        }
        let cast = CastExpr::new(col("a", &schema)?, DataType::Int64, None);
        let exprs = vec![
            ProjectionExpr::new(Arc::new(cast), "a".to_string()),
            ProjectionExpr::new(col("b", &schema)?, "b".to_string()),
        ];
        Ok(Arc::new(ProjectionExec::try_new(exprs, merged)?))
    }

    #[test]
    fn the_projection_runs_on_the_one_ordered_stream() -> Result<()> {
        let before = cast_over_merge(true)?;
        assert_eq!(before.output_partitioning().partition_count(), 4);
        let plan = OrderedOutput.optimize(before, &ConfigOptions::default())?;
        assert_eq!(plan.name(), "ProjectionExec");
        assert_eq!(plan.output_partitioning().partition_count(), 1);
        assert_eq!(plan.children()[0].name(), "SortPreservingMergeExec");
        assert_eq!(plan.schema().field(0).data_type(), &DataType::Int64);
        Ok(())
    }

    #[test]
    fn a_projection_directly_over_the_merge_is_left_alone() -> Result<()> {
        let plan = cast_over_merge(false)?;
        let optimized = OrderedOutput.optimize(Arc::clone(&plan), &ConfigOptions::default())?;
        assert!(Arc::ptr_eq(&plan, &optimized));
        Ok(())
    }

    #[test]
    fn plans_without_a_projection_on_top_are_left_alone() -> Result<()> {
        let plan = cast_over_merge(false)?;
        let merge = Arc::clone(plan.children()[0]);
        let optimized = OrderedOutput.optimize(Arc::clone(&merge), &ConfigOptions::default())?;
        assert!(Arc::ptr_eq(&merge, &optimized));
        Ok(())
    }
}
