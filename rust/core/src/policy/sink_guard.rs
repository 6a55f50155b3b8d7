//! The sink guard: refuses a physical plan that writes data (COPY TO, INSERT)
//! when the policy allows no writing statement class.
//!
//! Over the FFI the host's nodes are opaque, so a writer is recognized by its
//! name (`DataSinkExec` and any other node naming itself a sink or writer).
//! Which files are written is checked earlier, by the statement checker.

use std::sync::Arc;

use datafusion_common::config::ConfigOptions;
use datafusion_common::{DataFusionError, Result};
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::ExecutionPlan;

use crate::POLICY_ERROR_PREFIX;

#[derive(Debug)]
pub struct SinkGuard {
    writes_allowed: bool,
}

impl SinkGuard {
    pub const NAME: &'static str = "flightserver.sink_guard";

    pub fn new(writes_allowed: bool) -> Self {
        Self { writes_allowed }
    }
}

/// Whether a node, known only by its name, writes data.
pub fn is_writer(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("sink") || name.contains("write")
}

/// The name of the first writing node in `plan`, depth first.
fn find_writer(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if is_writer(plan.name()) {
        return Some(plan.name().to_owned());
    }
    plan.children().into_iter().find_map(find_writer)
}

impl PhysicalOptimizerRule for SinkGuard {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !self.writes_allowed
            && let Some(writer) = find_writer(&plan)
        {
            return Err(DataFusionError::Plan(format!(
                "{POLICY_ERROR_PREFIX} rule {}: the plan writes data ({writer}), and the policy allows no writing statements (dml and copy are denied)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use datafusion_physical_plan::empty::EmptyExec;
    use datafusion_physical_plan::union::UnionExec;

    /// A stand-in for a host's writer node: only its name matters to the guard.
    #[derive(Debug)]
    struct NamedLeaf {
        name: &'static str,
        inner: Arc<dyn ExecutionPlan>,
    }

    impl datafusion_physical_plan::DisplayAs for NamedLeaf {
        fn fmt_as(
            &self,
            _t: datafusion_physical_plan::DisplayFormatType,
            f: &mut std::fmt::Formatter<'_>,
        ) -> std::fmt::Result {
            write!(f, "{}", self.name)
        }
    }

    impl ExecutionPlan for NamedLeaf {
        fn name(&self) -> &str {
            self.name
        }
        fn properties(&self) -> &Arc<datafusion_physical_plan::PlanProperties> {
            self.inner.properties()
        }
        fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
            vec![]
        }
        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &Arc<dyn datafusion_physical_plan::PhysicalExpr>,
            )
                -> Result<datafusion_common::tree_node::TreeNodeRecursion>,
        ) -> Result<datafusion_common::tree_node::TreeNodeRecursion> {
            Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
        }
        fn with_new_children(
            self: Arc<Self>,
            _children: Vec<Arc<dyn ExecutionPlan>>,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            Ok(self)
        }
        fn execute(
            &self,
            partition: usize,
            context: Arc<datafusion_execution::TaskContext>,
        ) -> Result<datafusion_physical_plan::SendableRecordBatchStream> {
            self.inner.execute(partition, context)
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]))
    }

    fn leaf(name: &'static str) -> Arc<dyn ExecutionPlan> {
        Arc::new(NamedLeaf {
            name,
            inner: Arc::new(EmptyExec::new(schema())),
        })
    }

    fn plan_with(writer: &'static str) -> Arc<dyn ExecutionPlan> {
        UnionExec::try_new(vec![leaf("DataSourceExec"), leaf(writer)]).unwrap()
    }

    #[test]
    fn names_that_write() {
        for name in ["DataSinkExec", "FileSinkExec", "DeltaWriterExec", "sink"] {
            assert!(is_writer(name), "{name}");
        }
        for name in [
            "DataSourceExec",
            "ProjectionExec",
            "AggregateExec",
            "FFI_ExecutionPlan",
        ] {
            assert!(!is_writer(name), "{name}");
        }
    }

    #[test]
    fn a_writing_plan_is_refused_when_writes_are_denied() {
        let err = SinkGuard::new(false)
            .optimize(plan_with("DataSinkExec"), &ConfigOptions::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(err.contains(SinkGuard::NAME), "{err}");
        assert!(err.contains("(DataSinkExec)"), "{err}");
    }

    #[test]
    fn a_writing_plan_passes_when_writes_are_allowed() {
        let plan = plan_with("DataSinkExec");
        let out = SinkGuard::new(true)
            .optimize(Arc::clone(&plan), &ConfigOptions::new())
            .unwrap();
        assert!(Arc::ptr_eq(&plan, &out));
    }

    #[test]
    fn a_reading_plan_always_passes() {
        let plan = plan_with("ProjectionExec");
        assert!(
            SinkGuard::new(false)
                .optimize(plan, &ConfigOptions::new())
                .is_ok()
        );
    }
}
