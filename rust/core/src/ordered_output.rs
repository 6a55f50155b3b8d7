//! The ordered output rule: a result keeps the order its plan sorts it in.
//!
//! A projection the host adds over a query (the client-type casts) sits above
//! the plan's final sort-preserving merge. DataFusion's round-robin
//! repartitioning then spreads that merge's one ordered stream over several
//! partitions to run the projection in parallel, and the root no longer
//! requires the order, so the merged result is scrambled. This rule moves such
//! projections below the final merge (each partition projects its own sorted
//! run), and where the merge's order cannot be written over the projection's
//! output, drops the repartitioning instead.

use std::sync::Arc;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::projection::{ProjectionExec, make_with_child, update_ordering};
use datafusion_physical_plan::repartition::RepartitionExec;
use datafusion_physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion_physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

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
    let Some(projection) = plan.downcast_ref::<ProjectionExec>() else {
        return Ok(plan);
    };
    let input = keep_order(Arc::clone(projection.input()))?;
    let input = without_round_robin(input);
    if let Some(merge) = input.downcast_ref::<SortPreservingMergeExec>()
        && let Some(ordering) = update_ordering(merge.expr().clone(), projection.expr())?
    {
        let below = make_with_child(projection, merge.input())?;
        let merged = SortPreservingMergeExec::new(ordering, below).with_fetch(merge.fetch());
        return Ok(Arc::new(merged));
    }
    if Arc::ptr_eq(&input, projection.input()) {
        return Ok(plan);
    }
    make_with_child(projection, &input)
}

/// `plan` without a round-robin repartitioning of one ordered partition.
fn without_round_robin(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        let input = repartition.input();
        let round_robin = matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_));
        if round_robin
            && input.output_partitioning().partition_count() == 1
            && input.output_ordering().is_some()
        {
            return Arc::clone(input);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::{CastExpr, col};
    use datafusion_physical_expr::{LexOrdering, PhysicalSortExpr};
    use datafusion_physical_plan::empty::EmptyExec;
    use datafusion_physical_plan::projection::ProjectionExpr;

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
    fn the_projection_moves_below_the_final_merge() -> Result<()> {
        let plan = OrderedOutput.optimize(cast_over_merge(true)?, &ConfigOptions::default())?;
        assert!(plan.is::<SortPreservingMergeExec>());
        assert_eq!(plan.output_partitioning().partition_count(), 1);
        assert!(plan.children()[0].is::<ProjectionExec>());
        assert_eq!(plan.schema().field(0).data_type(), &DataType::Int64);
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
