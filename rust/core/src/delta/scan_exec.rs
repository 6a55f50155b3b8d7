//! `DeltaScanExec`: a Delta provider's scan, carrying which table, snapshot
//! version and files it reads, so plan rules (the scan recorder) can name them.
//!
//! It is a leaf owning the real scan (DataFusion's Parquet source, possibly
//! under a renaming projection): over the FFI the host sees it as one opaque
//! node anyway, and nothing outside may rewrite what a pinned scan reads.

use std::fmt;
use std::sync::Arc;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::TreeNodeRecursion;
use datafusion_common::{DataFusionError, Statistics};
use datafusion_execution::TaskContext;
use datafusion_physical_plan::metrics::MetricsSet;
use datafusion_physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream, StatisticsArgs, StatisticsContext,
};

use super::live::LiveRead;
use super::missing_file::{name_missing_files, stream_naming_missing_files};
use super::scan_log::ScanRecord;

/// What a Delta scan reads, as plan rules and artifacts report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaScanInfo {
    /// The table's root URL.
    pub table_root: String,
    pub record: ScanRecord,
    /// Total size of the files read, from the Delta log.
    pub bytes: u64,
}

#[derive(Debug)]
pub struct DeltaScanExec {
    inner: Arc<dyn ExecutionPlan>,
    info: Arc<DeltaScanInfo>,
    /// `DeltaScanExec[v<version> files=<read>/<candidates>]`: over the FFI a
    /// node shows only its name, so EXPLAIN shows what the scan reads there.
    name: String,
    /// The claim keeping the version's files from vacuum while the scan exists.
    live: Option<Arc<LiveRead>>,
}

impl DeltaScanExec {
    pub const NAME: &'static str = "DeltaScanExec";

    pub fn new(inner: Arc<dyn ExecutionPlan>, info: DeltaScanInfo) -> Self {
        let record = &info.record;
        let name = format!(
            "{}[v{} files={}/{}]",
            Self::NAME,
            record.version,
            record.file_count(),
            record.candidate_files
        );
        Self {
            inner,
            info: Arc::new(info),
            name,
            live: None,
        }
    }

    /// The scan, holding `live` (its version's claim against vacuum) while it exists.
    pub fn holding(mut self, live: Arc<LiveRead>) -> Self {
        self.live = Some(live);
        self
    }

    pub fn info(&self) -> &DeltaScanInfo {
        &self.info
    }

    /// The real scan (for a codec shipping it to another process).
    pub fn inner(&self) -> &Arc<dyn ExecutionPlan> {
        &self.inner
    }

    /// This scan reading `inner` instead (a share of its files, on a worker).
    pub fn with_inner(&self, inner: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        self.wrapping(inner)
    }

    fn wrapping(&self, inner: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        Arc::new(Self {
            inner,
            info: Arc::clone(&self.info),
            name: self.name.clone(),
            live: self.live.clone(),
        })
    }
}

impl DisplayAs for DeltaScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = &self.info.record;
        write!(
            f,
            "{}: table={}, version={}, files={} of {}",
            Self::NAME,
            self.info.table_root,
            record.version,
            record.file_count(),
            record.candidate_files
        )
    }
}

impl ExecutionPlan for DeltaScanExec {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "{} is a leaf, got {} children",
                Self::NAME,
                children.len()
            )));
        }
        Ok(self)
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        config: &ConfigOptions,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        Ok(self
            .inner
            .repartitioned(target_partitions, config)?
            .map(|inner| self.wrapping(inner)))
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        let inner = Arc::clone(&self.inner).reset_state()?;
        Ok(self.wrapping(inner))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let info = Arc::clone(&self.info);
        let stream = self
            .inner
            .execute(partition, context)
            .map_err(|err| name_missing_files(err, &info))?;
        Ok(stream_naming_missing_files(stream, info))
    }

    /// The metrics of every node of the real scan (the Parquet source's
    /// `files_opened` and the rest, also under a renaming projection).
    fn metrics(&self) -> Option<MetricsSet> {
        let mut all = MetricsSet::new();
        let mut pending = vec![&self.inner];
        while let Some(plan) = pending.pop() {
            for metric in plan.metrics().iter().flat_map(MetricsSet::iter) {
                all.push(Arc::clone(metric));
            }
            pending.extend(plan.children());
        }
        Some(all)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        StatisticsContext::new().compute(self.inner.as_ref(), args)
    }
}
