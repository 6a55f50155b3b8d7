//! The flight output rule: shapes a plan's output for Flight streaming.
//!
//! The plan's root is a [`FlightOutputExec`] (placed by the scan recorder),
//! which carries the id of the plan's manifest. This rule decides how many
//! Flight endpoints serve the result: with `max_endpoints` above one, a plan
//! whose output has 2..=`max_endpoints` partitions is served as that many
//! endpoints, each streaming one partition, which a client can fetch in
//! parallel; otherwise one endpoint streams all partitions merged (by the
//! host, which runs them in parallel). It never adds nodes that would run on
//! their own threads: over the FFI such nodes would drive the host's plans
//! outside the host's runtime.

use std::fmt;
use std::sync::Arc;

use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_common::{DataFusionError, Result, Statistics};
use datafusion_execution::TaskContext;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PhysicalExpr,
    PlanProperties, SendableRecordBatchStream, StatisticsArgs,
};

use crate::scan_manifest::MANIFESTS;

/// The root of every plan the rulepack shaped: passes its input through and
/// names the plan's manifest (`FlightOutputExec#<id>`), the one thing the
/// server can read from a foreign plan.
#[derive(Debug)]
pub struct FlightOutputExec {
    input: Arc<dyn ExecutionPlan>,
    manifest_id: u64,
    name: String,
}

impl FlightOutputExec {
    pub const NAME: &'static str = "FlightOutputExec";

    pub fn new(input: Arc<dyn ExecutionPlan>, manifest_id: u64) -> Self {
        Self {
            input,
            manifest_id,
            name: format!("{}#{manifest_id}", Self::NAME),
        }
    }

    pub fn manifest_id(&self) -> u64 {
        self.manifest_id
    }

    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for FlightOutputExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl ExecutionPlan for FlightOutputExec {
    fn name(&self) -> &str {
        &self.name
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
        Ok(Arc::new(Self::new(
            children.swap_remove(0),
            self.manifest_id,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
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

/// Decides the number of Flight endpoints; see the module documentation.
#[derive(Debug)]
pub struct FlightOutputRule {
    max_endpoints: usize,
}

impl FlightOutputRule {
    pub const NAME: &'static str = "flightserver.flight_output";

    pub fn new(max_endpoints: usize) -> Self {
        Self {
            max_endpoints: max_endpoints.max(1),
        }
    }

    /// Endpoints for a result of `partitions` output partitions.
    pub fn endpoints(&self, partitions: usize) -> usize {
        if partitions > 1 && partitions <= self.max_endpoints {
            partitions
        } else {
            1
        }
    }
}

impl PhysicalOptimizerRule for FlightOutputRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(output) = plan.downcast_ref::<FlightOutputExec>() {
            let endpoints = self.endpoints(plan.output_partitioning().partition_count());
            MANIFESTS.update(output.manifest_id(), |manifest| {
                manifest.endpoints = endpoints;
            });
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
