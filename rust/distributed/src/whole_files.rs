//! Scans of formats that cannot be read by byte range (Avro) stay one task
//! reading whole files. datafusion-distributed splits every file scan by byte
//! ranges across tasks; an Avro reader ignores the range, so each task would
//! read the whole file and the rows would come back once per task.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::datasource::memory::DataSourceExec;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, ScaleUpLeafNodeEvent,
    ScaleUpLeafNodeEventResponse,
};

/// File formats whose readers take whole files only.
const WHOLE_FILE_FORMATS: [&str; 1] = ["avro"];

fn reads_whole_files(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<DataSourceExec>()
        .and_then(|source| source.data_source().downcast_ref::<FileScanConfig>())
        .is_some_and(|config| WHOLE_FILE_FORMATS.contains(&config.file_source().file_type()))
}

/// One task at most for such a scan.
pub fn whole_file_task_count(
    ev: DesiredTaskCountEvent<'_>,
) -> Option<Result<DesiredTaskCountEventResponse>> {
    reads_whole_files(ev.plan).then(|| Ok(DesiredTaskCountEventResponse::maximum(1)))
}

/// Such a scan unchanged: its files stay whole, in the groups DataFusion made.
pub fn whole_file_scale_up(
    ev: ScaleUpLeafNodeEvent<'_>,
) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    reads_whole_files(ev.plan).then(|| Ok(ScaleUpLeafNodeEventResponse::new(Arc::clone(ev.plan))))
}
