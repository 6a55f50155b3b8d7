//! Option 1's probe: a query planner living in our library, installed into
//! the wheel's session through `datafusion_ffi::query_planner::FFI_QueryPlanner`.
//! The wheel serializes each logical plan with datafusion-proto, this planner
//! plans it with DataFusion's default physical planner against the foreign
//! session, and the physical plan travels back serialized. It adds nothing:
//! what it costs over the wheel's own planner is the price of the crossing.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};

#[derive(Debug, Default)]
pub struct NativeReplanner;

#[async_trait]
impl QueryPlanner for NativeReplanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await
    }
}
