//! Several Flight endpoints for one distributed result: `FanOutExec`, the head
//! of the coordinator's stage, runs every partition of the final stage's output
//! and hands partition `p` to endpoint `p % endpoints`; each endpoint's DoGet
//! reads its own outlet, so a client fetches them in parallel.
//!
//! It is put on top of the plan before datafusion-distributed distributes it
//! (a planner of ours runs before its planner), so the final stage's partitions
//! stay apart instead of being coalesced into one.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PhysicalExpr, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use futures::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

type Batch = Result<RecordBatch>;

/// The endpoints' channels, shared by every copy of the node (the distributed
/// planner and the coordinator rebuild nodes with `with_new_children`).
#[derive(Debug)]
pub struct Outlets {
    senders: Mutex<Option<Vec<UnboundedSender<Batch>>>>,
    receivers: Mutex<Vec<Option<UnboundedReceiver<Batch>>>>,
}

impl Outlets {
    fn new(endpoints: usize) -> Self {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..endpoints)
            .map(|_| {
                let (sender, receiver) = unbounded_channel();
                (sender, Some(receiver))
            })
            .unzip();
        Self {
            senders: Mutex::new(Some(senders)),
            receivers: Mutex::new(receivers),
        }
    }

    /// Endpoint `index`'s batches, once.
    pub fn take(&self, index: usize) -> Option<UnboundedReceiver<Batch>> {
        self.receivers
            .lock()
            .expect("outlets lock")
            .get_mut(index)?
            .take()
    }

    fn senders(&self) -> Option<Vec<UnboundedSender<Batch>>> {
        self.senders.lock().expect("outlets lock").clone()
    }

    /// Ends every endpoint with `error` (a failure before or around the partitions).
    pub fn fail(&self, error: &DataFusionError) {
        if let Some(senders) = self.senders() {
            for sender in senders {
                let _ = sender.send(Err(DataFusionError::Execution(error.to_string())));
            }
        }
        self.close();
    }

    /// No more batches but those the partitions still send.
    pub fn close(&self) {
        self.senders.lock().expect("outlets lock").take();
    }
}

/// The head node: one output partition (so the distributed planner adds no
/// coalesce), whose stream drives the input's partitions into the outlets.
#[derive(Debug)]
pub struct FanOutExec {
    input: Arc<dyn ExecutionPlan>,
    outlets: Arc<Outlets>,
    endpoints: usize,
    properties: Arc<PlanProperties>,
}

impl FanOutExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, endpoints: usize) -> Self {
        let outlets = Arc::new(Outlets::new(endpoints));
        Self::with_outlets(input, outlets, endpoints)
    }

    fn with_outlets(
        input: Arc<dyn ExecutionPlan>,
        outlets: Arc<Outlets>,
        endpoints: usize,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        Self {
            input,
            outlets,
            endpoints,
            properties,
        }
    }

    pub fn endpoints(&self) -> usize {
        self.endpoints
    }

    pub fn outlets(&self) -> &Arc<Outlets> {
        &self.outlets
    }
}

impl DisplayAs for FanOutExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FanOutExec: endpoints={}", self.endpoints)
    }
}

impl ExecutionPlan for FanOutExec {
    fn name(&self) -> &str {
        "FanOutExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
            return Err(DataFusionError::Internal(
                "FanOutExec takes one child".to_owned(),
            ));
        }
        Ok(Arc::new(Self::with_outlets(
            children.remove(0),
            Arc::clone(&self.outlets),
            self.endpoints,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "FanOutExec has one partition, asked for {partition}"
            )));
        }
        let senders = self.outlets.senders().ok_or_else(|| {
            DataFusionError::Execution("the result's endpoints were closed".to_owned())
        })?;
        let mut partitions = JoinSet::new();
        for index in 0..self.input.output_partitioning().partition_count() {
            let sender = senders[index % senders.len()].clone();
            let stream = self.input.execute(index, Arc::clone(&context));
            partitions.spawn(async move {
                let mut stream = match stream {
                    Ok(stream) => stream,
                    Err(err) => {
                        let _ = sender.send(Err(err));
                        return;
                    }
                };
                while let Some(batch) = stream.next().await {
                    let failed = batch.is_err();
                    if sender.send(batch).is_err() || failed {
                        return; // the endpoint's reader is gone, or the partition failed
                    }
                }
            });
        }
        drop(senders);
        let outlets = Arc::clone(&self.outlets);
        // Ends when every partition has: the endpoints' channels close as their
        // senders drop; dropping this stream stops the partitions.
        let done = futures::stream::once(async move {
            while partitions.join_next().await.is_some() {}
            outlets.close();
        })
        .filter_map(|()| async { None::<Batch> });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), done)))
    }
}

/// Plans as DataFusion does, then heads a plan of 2..=`max_endpoints` output
/// partitions with a `FanOutExec`; installed below datafusion-distributed's planner.
#[derive(Debug)]
pub struct FanOutPlanner {
    pub max_endpoints: usize,
}

#[async_trait]
impl QueryPlanner for FanOutPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        let partitions = plan.output_partitioning().partition_count();
        if partitions > 1 && partitions <= self.max_endpoints {
            return Ok(Arc::new(FanOutExec::new(plan, partitions)));
        }
        Ok(plan)
    }
}

/// The fan-out head of a (distributed) plan, if it has one.
pub fn fan_out(plan: &Arc<dyn ExecutionPlan>) -> Option<&FanOutExec> {
    let mut node = plan;
    loop {
        if let Some(fan_out) = node.downcast_ref::<FanOutExec>() {
            return Some(fan_out);
        }
        let children = node.children();
        if children.len() != 1 {
            return None;
        }
        node = children[0];
    }
}
