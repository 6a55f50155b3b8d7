//! The flight output rule: shapes a plan's output for Flight streaming.
//!
//! It decides, in the plan's manifest (see `scan_manifest`), how many Flight
//! endpoints serve the result: with `max_endpoints` above one, a plan
//! whose output has 2..=`max_endpoints` partitions is served as that many
//! endpoints, each streaming one partition, which a client can fetch in
//! parallel; otherwise one endpoint streams all partitions merged (by the
//! host, which runs them in parallel). It adds no nodes: a node of this crate
//! above the host's would run them outside the host's runtime and memory pool.

use std::sync::Arc;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::scan_manifest::MANIFESTS;

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
        let endpoints = self.endpoints(plan.output_partitioning().partition_count());
        MANIFESTS.update_current(|manifest| manifest.endpoints = endpoints);
        Ok(plan)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}
