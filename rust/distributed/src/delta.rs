//! Our Delta scans in distributed plans: a codec shipping a pinned
//! `DeltaScanExec` to workers (its exact files, and the rows deletion vectors
//! keep, which datafusion-proto does not carry), and the planner events that
//! size and split it over tasks as datafusion-distributed does for Parquet
//! listing scans.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::memory::DataSourceExec;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion_datasource_parquet::ParquetRowSelection;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedConfig, DistributedLeafExec,
    ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
};
use datafusion_proto::bytes::{physical_plan_from_bytes, physical_plan_to_bytes};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use flightserver_core::delta::{DeltaScanExec, DeltaScanInfo, ScanRecord};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use serde::{Deserialize, Serialize};

/// Per file location with a deletion vector: (skip, rows) runs of the rows kept.
type Selections = Vec<(String, Vec<(bool, usize)>)>;

/// A `DeltaScanExec` as it travels: what it reads, and its real scan.
#[derive(Serialize, Deserialize)]
struct EncodedScan {
    table_root: String,
    version: u64,
    files: Vec<String>,
    candidate_files: usize,
    bytes: u64,
    selections: Selections,
}

/// The codec of `DeltaScanExec`, on the coordinator and on every worker.
#[derive(Debug, Default)]
pub struct DeltaScanCodec;

impl PhysicalExtensionCodec for DeltaScanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(
                "DeltaScanExec is a leaf".to_owned(),
            ));
        }
        let (header, inner) = split_frame(buf)?;
        let scan: EncodedScan = serde_json::from_slice(header)
            .map_err(|err| DataFusionError::Internal(format!("DeltaScanExec codec: {err}")))?;
        let inner = attach_selections(physical_plan_from_bytes(inner, ctx)?, &scan.selections)?;
        let info = DeltaScanInfo {
            table_root: scan.table_root,
            record: ScanRecord {
                sequence: 0,
                version: scan.version,
                files: scan.files,
                candidate_files: scan.candidate_files,
            },
            bytes: scan.bytes,
        };
        Ok(Arc::new(DeltaScanExec::new(inner, info)))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(scan) = node.downcast_ref::<DeltaScanExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "no codec for {}",
                node.name()
            )));
        };
        let info = scan.info();
        let encoded = EncodedScan {
            table_root: info.table_root.clone(),
            version: info.record.version,
            files: info.record.files.clone(),
            candidate_files: info.record.candidate_files,
            bytes: info.bytes,
            selections: selections(scan.inner())?,
        };
        let header = serde_json::to_vec(&encoded)
            .map_err(|err| DataFusionError::Internal(format!("DeltaScanExec codec: {err}")))?;
        let inner = physical_plan_to_bytes(Arc::clone(scan.inner()))?;
        buf.extend_from_slice(&(header.len() as u64).to_le_bytes());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&inner);
        Ok(())
    }
}

fn split_frame(buf: &[u8]) -> Result<(&[u8], &[u8])> {
    let bad = || DataFusionError::Internal("DeltaScanExec codec: truncated message".to_owned());
    let length: [u8; 8] = buf
        .get(..8)
        .ok_or_else(bad)?
        .try_into()
        .map_err(|_| bad())?;
    let length = usize::try_from(u64::from_le_bytes(length)).map_err(|_| bad())?;
    let header = buf.get(8..8 + length).ok_or_else(bad)?;
    Ok((header, &buf[8 + length..]))
}

/// The file scan inside a Delta scan (under a renaming projection or not).
fn file_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<(&DataSourceExec, &FileScanConfig)> {
    let mut node = plan;
    loop {
        if let Some(source) = node.downcast_ref::<DataSourceExec>() {
            return source
                .data_source()
                .downcast_ref::<FileScanConfig>()
                .map(|config| (source, config));
        }
        node = node.children().into_iter().next()?;
    }
}

/// `plan` with its file scan's files replaced by `groups`.
fn with_file_groups(
    plan: &Arc<dyn ExecutionPlan>,
    groups: Vec<FileGroup>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut groups = Some(groups);
    Arc::clone(plan)
        .transform_down(|node| {
            let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|source| source.data_source().downcast_ref::<FileScanConfig>())
            else {
                return Ok(Transformed::no(node));
            };
            let mut config = config.clone();
            config.file_groups = groups.take().unwrap_or_default();
            let node: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
            Ok(Transformed::new(node, true, TreeNodeRecursion::Stop))
        })
        .map(|transformed| transformed.data)
}

fn selections(inner: &Arc<dyn ExecutionPlan>) -> Result<Selections> {
    let Some((_, config)) = file_scan(inner) else {
        return Ok(Vec::new());
    };
    Ok(config
        .file_groups
        .iter()
        .flat_map(FileGroup::iter)
        .filter_map(|file| {
            let selection = file.extensions.get::<ParquetRowSelection>()?;
            let runs = selection
                .selection()
                .iter()
                .map(|run| (run.skip, run.row_count))
                .collect();
            Some((file.object_meta.location.to_string(), runs))
        })
        .collect())
}

fn attach_selections(
    inner: Arc<dyn ExecutionPlan>,
    selections: &Selections,
) -> Result<Arc<dyn ExecutionPlan>> {
    if selections.is_empty() {
        return Ok(inner);
    }
    let Some((_, config)) = file_scan(&inner) else {
        return Ok(inner);
    };
    let groups = config
        .file_groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|file| {
                    let location = file.object_meta.location.to_string();
                    let runs = selections.iter().find(|(path, _)| *path == location);
                    match runs {
                        Some((_, runs)) => {
                            let selectors: Vec<RowSelector> = runs
                                .iter()
                                .map(|&(skip, rows)| {
                                    if skip {
                                        RowSelector::skip(rows)
                                    } else {
                                        RowSelector::select(rows)
                                    }
                                })
                                .collect();
                            file.clone().with_extension(ParquetRowSelection::new(
                                RowSelection::from(selectors),
                            ))
                        }
                        None => file.clone(),
                    }
                })
                .collect::<FileGroup>()
        })
        .collect();
    with_file_groups(&inner, groups)
}

/// How many tasks a Delta scan wants: its files' bytes over
/// `distributed.file_scan_config_bytes_per_partition`, per target partition,
/// as datafusion-distributed sizes Parquet listing scans.
pub fn delta_desired_task_count(
    ev: DesiredTaskCountEvent<'_>,
) -> Option<Result<DesiredTaskCountEventResponse>> {
    let scan = ev.plan.downcast_ref::<DeltaScanExec>()?;
    file_scan(scan.inner())?;
    let config = DistributedConfig::from_session_config(ev.session_config).ok()?;
    let bytes = usize::try_from(scan.info().bytes).unwrap_or(usize::MAX);
    let tasks = bytes
        .div_ceil(config.file_scan_config_bytes_per_partition.max(1))
        .div_ceil(ev.session_config.target_partitions().max(1));
    Some(Ok(DesiredTaskCountEventResponse::desired(tasks.max(1))))
}

/// A Delta scan split over `task_count` tasks: each task reads a share of the
/// pinned files (whole files, with their deletion vectors).
pub fn delta_scale_up(
    ev: ScaleUpLeafNodeEvent<'_>,
) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<DeltaScanExec>()?;
    let (_, config) = file_scan(scan.inner())?;
    let partitions = ev.plan.output_partitioning().partition_count().max(1);
    let files: Vec<_> = config
        .file_groups
        .iter()
        .flat_map(FileGroup::iter)
        .cloned()
        .collect();
    let slots = partitions * ev.task_count;
    let mut groups: Vec<Vec<_>> = vec![Vec::new(); slots];
    for (index, file) in files.into_iter().enumerate() {
        groups[index % slots].push(file);
    }
    let mut per_task: Vec<Vec<FileGroup>> = vec![Vec::new(); ev.task_count];
    for (index, group) in groups.into_iter().enumerate() {
        per_task[index % ev.task_count].push(FileGroup::new(group));
    }
    let variants: Result<Vec<Arc<dyn ExecutionPlan>>> = per_task
        .into_iter()
        .map(|groups| Ok(scan.with_inner(with_file_groups(scan.inner(), groups)?)))
        .collect();
    let leaf =
        variants.and_then(|variants| DistributedLeafExec::try_new(Arc::clone(ev.plan), variants));
    Some(leaf.map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))))
}
