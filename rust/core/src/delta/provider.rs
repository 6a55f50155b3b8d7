//! `DeltaTableProvider`: a DataFusion table over one pinned Delta snapshot.
//! It prunes files by partition values and Delta statistics, scans the rest
//! with DataFusion's Parquet source, and records the exact files each scan read.

use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion_catalog::Session;
use datafusion_common::config::{ConfigOptions, TableParquetOptions};
use datafusion_common::stats::Precision;
use datafusion_common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion_common::{Column, DFSchema, DataFusionError, Result, Statistics, plan_err};
use datafusion_datasource::file_groups::FileGroup;
use datafusion_datasource::file_scan_config::FileScanConfigBuilder;
use datafusion_datasource::source::DataSourceExec;
use datafusion_datasource::{PartitionedFile, TableSchema};
use datafusion_datasource_parquet::source::ParquetSource;
use datafusion_datasource_parquet::{DefaultParquetFileReaderFactory, ParquetRowSelection};
use datafusion_execution::object_store::ObjectStoreUrl;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::utils::conjunction;
use datafusion_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion_physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion_physical_plan::ExecutionPlan;
use datafusion_physical_plan::empty::EmptyExec;
use datafusion_physical_plan::projection::ProjectionExec;
use datafusion_pruning::PruningPredicateBuilder;

use super::files::DeltaFile;
use super::live::LiveRead;
use super::scan_exec::{DeltaScanExec, DeltaScanInfo};
use super::scan_log::{ScanLog, ScanRecord};
use super::snapshot::DeltaSnapshot;

/// A Delta table pinned to one snapshot version and, optionally, to an exact
/// subset of that snapshot's files.
#[derive(Debug)]
pub struct DeltaTableProvider {
    snapshot: Arc<DeltaSnapshot>,
    /// Per active file: may a scan read it? `None`: every file may be read.
    pinned: Option<Arc<Vec<bool>>>,
    /// File columns then partition columns: the layout DataFusion's file scans produce.
    scan_schema: SchemaRef,
    scans: Arc<ScanLog>,
    /// Keeps this version's files from vacuum while the provider (or a scan
    /// planned from it) exists.
    live: Arc<LiveRead>,
}

impl DeltaTableProvider {
    pub fn new(snapshot: Arc<DeltaSnapshot>) -> Self {
        let mut fields: Vec<_> = snapshot.file_schema().fields().iter().cloned().collect();
        fields.extend(snapshot.partition_fields().iter().cloned());
        let live = Arc::new(LiveRead::new(
            snapshot.table_root().as_str(),
            snapshot.version(),
        ));
        Self {
            live,
            snapshot,
            pinned: None,
            scan_schema: Arc::new(Schema::new(fields)),
            scans: Arc::default(),
        }
    }

    /// The same snapshot, restricted to exactly `paths` (paths as the Delta log
    /// names them). Fails if a path is not an active file of the snapshot, so
    /// a stored plan never replays against a different file set.
    pub fn with_pinned_files(&self, paths: &[String]) -> Result<Self> {
        let selected = self.snapshot.files().select(paths)?;
        Ok(Self {
            snapshot: Arc::clone(&self.snapshot),
            pinned: Some(Arc::new(selected)),
            scan_schema: Arc::clone(&self.scan_schema),
            scans: Arc::default(),
            live: Arc::clone(&self.live),
        })
    }

    pub fn snapshot(&self) -> &Arc<DeltaSnapshot> {
        &self.snapshot
    }

    /// The files scans may read (all active files unless pinned).
    pub fn candidate_files(&self) -> Vec<&DeltaFile> {
        let files = self.snapshot.files().files();
        match &self.pinned {
            None => files.iter().collect(),
            Some(selected) => files
                .iter()
                .zip(selected.iter())
                .filter_map(|(file, keep)| keep.then_some(file))
                .collect(),
        }
    }

    pub fn is_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    pub fn scan_log(&self) -> &ScanLog {
        &self.scans
    }

    /// The files that can hold rows matching `filters`, by partition values and
    /// statistics; filters that cannot be used for pruning are ignored.
    pub fn prune(&self, filters: &[Expr]) -> Result<Vec<&DeltaFile>> {
        let predicate = self.physical_predicate(filters, &ExecutionProps::new())?;
        self.prune_with(predicate.as_ref())
    }

    fn prune_with(&self, predicate: Option<&Arc<dyn PhysicalExpr>>) -> Result<Vec<&DeltaFile>> {
        let files = self.snapshot.files();
        let mut keep: Vec<bool> = match &self.pinned {
            Some(selected) => selected.as_ref().clone(),
            None => vec![true; files.len()],
        };
        if let Some(predicate) = predicate
            && !files.is_empty()
        {
            let pruning = PruningPredicateBuilder::new()
                .with_file_schema(Arc::clone(&self.scan_schema))
                .try_build(Arc::clone(predicate));
            // A predicate the pruning machinery cannot express prunes nothing.
            if let Ok(pruning) = pruning
                && !pruning.always_true()
            {
                let may_match = pruning.prune(files.as_ref())?;
                keep.iter_mut()
                    .zip(may_match)
                    .for_each(|(keep, may_match)| *keep &= may_match);
            }
        }
        Ok(files
            .files()
            .iter()
            .zip(keep)
            .filter_map(|(file, keep)| keep.then_some(file))
            .collect())
    }

    /// The conjunction of the usable `filters` as a physical expression over
    /// the scan schema; filters that do not plan (unknown columns, ...) are left out.
    fn physical_predicate(
        &self,
        filters: &[Expr],
        props: &ExecutionProps,
    ) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        let df_schema = DFSchema::try_from(Arc::clone(&self.scan_schema))?;
        // Filters reach a scan without subqueries: an empty planning context.
        let planning = PhysicalPlanningContext::default();
        let usable: Vec<Expr> = filters
            .iter()
            .filter_map(|filter| self.physical_columns(filter).ok())
            .filter(|filter| create_physical_expr(filter, &df_schema, props, &planning).is_ok())
            .collect();
        conjunction(usable)
            .map(|predicate| create_physical_expr(&predicate, &df_schema, props, &planning))
            .transpose()
    }

    /// `filter` over the scan schema: its columns unqualified and by the names
    /// the files use.
    fn physical_columns(&self, filter: &Expr) -> Result<Expr> {
        filter
            .clone()
            .transform(|expr| match expr {
                Expr::Column(column) => Ok(Transformed::yes(Expr::Column(
                    Column::new_unqualified(self.snapshot.physical_name(column.name())),
                ))),
                other => Ok(Transformed::no(other)),
            })
            .data()
    }

    fn object_store_url(&self) -> Result<ObjectStoreUrl> {
        let root = self.snapshot.table_root();
        let authority = &root[url::Position::BeforeHost..url::Position::AfterPort];
        ObjectStoreUrl::parse(format!("{}://{authority}", root.scheme()))
    }

    fn projected_schema(&self, projection: Option<&Vec<usize>>) -> Result<SchemaRef> {
        let schema = self.snapshot.schema();
        match projection {
            None => Ok(Arc::clone(schema)),
            Some(indices) => Ok(Arc::new(schema.project(indices)?)),
        }
    }

    /// The scan-schema positions of the table-schema columns `projection` names.
    fn scan_projection(&self, projection: Option<&Vec<usize>>) -> Result<Vec<usize>> {
        let schema = self.snapshot.schema();
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        projection
            .unwrap_or(&all)
            .iter()
            .map(|&index| {
                let name = self.snapshot.physical_name(schema.field(index).name());
                self.scan_schema
                    .index_of(name)
                    .map_err(DataFusionError::from)
            })
            .collect()
    }
}

#[async_trait]
impl datafusion_catalog::TableProvider for DeltaTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(self.snapshot.schema())
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: filters choose the files (and row groups) to read; DataFusion
        // still applies them to the rows.
        Ok(filters
            .iter()
            .map(|filter| {
                if filter.is_volatile() {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let files = self.candidate_files();
        let rows: Option<u64> = files.iter().map(|file| file.num_records).sum();
        let bytes: u64 = files.iter().map(|file| file.size).sum();
        let mut statistics = Statistics::new_unknown(self.snapshot.schema());
        // Deletion vectors make the log's row counts upper bounds.
        let exact = !files.iter().any(|file| file.has_deletion_vector);
        statistics.num_rows = match (rows.and_then(|r| usize::try_from(r).ok()), exact) {
            (Some(rows), true) => Precision::Exact(rows),
            (Some(rows), false) => Precision::Inexact(rows),
            (None, _) => Precision::Absent,
        };
        statistics.total_byte_size =
            usize::try_from(bytes).map_or(Precision::Absent, Precision::Inexact);
        Some(statistics)
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.plan_scan(
            session.config_options(),
            session.execution_props(),
            projection,
            filters,
            limit,
        )
    }
}

/// Spreads files over up to `target_partitions` groups of similar total size
/// (largest first, each to the currently smallest group).
fn file_groups(files: &[&DeltaFile], target_partitions: usize) -> Vec<FileGroup> {
    let mut by_size: Vec<&&DeltaFile> = files.iter().collect();
    by_size.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let group_count = target_partitions.min(files.len());
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); group_count];
    for file in by_size {
        let (total, members) = groups
            .iter_mut()
            .min_by_key(|(total, _)| *total)
            .expect("at least one group");
        *total += file.size;
        let mut member = PartitionedFile::new(String::new(), file.size)
            .with_partition_values(file.partition_values.clone());
        // The location as is: building it from a string would encode it again.
        member.object_meta.location = file.location.clone();
        if let Some(selection) = &file.selection {
            // The rows the deletion vector keeps; the Parquet source reads only those.
            member = member.with_extension(ParquetRowSelection::new(selection.as_ref().clone()));
        }
        members.push(member);
    }
    groups
        .into_iter()
        .map(|(_, members)| FileGroup::new(members))
        .collect()
}

impl DeltaTableProvider {
    /// Total size of the files a full scan reads: the pinned set, or every active file.
    pub fn pinned_bytes(&self) -> u64 {
        let files = self.snapshot.files().files();
        match &self.pinned {
            Some(keep) => files
                .iter()
                .zip(keep.iter())
                .filter(|(_, keep)| **keep)
                .map(|(file, _)| file.size)
                .sum(),
            None => files.iter().map(|file| file.size).sum(),
        }
    }

    /// The most recent scan's record, if the provider has been scanned.
    pub fn last_scan(&self) -> Option<ScanRecord> {
        self.scans.last()
    }

    /// The scan plan for `filters` and `projection` (indices into the table
    /// schema), recording the files it will read. `TableProvider::scan` with
    /// the session's options and properties.
    pub fn plan_scan(
        &self,
        options: &ConfigOptions,
        props: &ExecutionProps,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(feature) = self.snapshot.unsupported_features().first() {
            return plan_err!(
                "the Delta table at {} (version {}) uses {feature}, which flightserver's Delta provider does not read yet",
                self.snapshot.table_root(),
                self.snapshot.version()
            );
        }
        let predicate = self.physical_predicate(filters, props)?;
        let files = self.prune_with(predicate.as_ref())?;
        let candidates = self
            .pinned
            .as_ref()
            .map_or(self.snapshot.files().len(), |selected| {
                selected.iter().filter(|keep| **keep).count()
            });
        let record = self.scans.record(
            self.snapshot.version(),
            files.iter().map(|file| file.path.clone()).collect(),
            candidates,
        );
        let info = DeltaScanInfo {
            table_root: self.snapshot.table_root().to_string(),
            record,
            bytes: files.iter().map(|file| file.size).sum(),
        };
        if files.is_empty() {
            let empty = Arc::new(EmptyExec::new(self.projected_schema(projection)?));
            return Ok(Arc::new(
                DeltaScanExec::new(empty, info).holding(Arc::clone(&self.live)),
            ));
        }

        let parquet_options = TableParquetOptions {
            global: options.execution.parquet.clone(),
            ..Default::default()
        };
        let table_schema = TableSchema::builder(Arc::clone(self.snapshot.file_schema()))
            .with_table_partition_cols(self.snapshot.partition_fields().to_vec())
            .build();
        let mut source = ParquetSource::new(table_schema)
            .with_table_parquet_options(parquet_options)
            .with_parquet_file_reader_factory(Arc::new(DefaultParquetFileReaderFactory::new(
                Arc::clone(self.snapshot.store()),
            )));
        if let Some(predicate) = predicate {
            source = source.with_predicate(predicate);
        }

        let target_partitions = options.execution.target_partitions.max(1);
        let config = FileScanConfigBuilder::new(self.object_store_url()?, Arc::new(source))
            .with_file_groups(file_groups(&files, target_partitions))
            .with_limit(limit)
            .with_projection_indices(Some(self.scan_projection(projection)?))?
            .build();
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        let scan = self.with_logical_names(scan, projection)?;
        Ok(Arc::new(
            DeltaScanExec::new(scan, info).holding(Arc::clone(&self.live)),
        ))
    }

    /// `scan` with its columns renamed from the files' names to the table's,
    /// where column mapping makes them differ.
    fn with_logical_names(
        &self,
        scan: Arc<dyn ExecutionPlan>,
        projection: Option<&Vec<usize>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let logical = self.projected_schema(projection)?;
        let output = scan.schema();
        if output
            .fields()
            .iter()
            .zip(logical.fields())
            .all(|(o, l)| o.name() == l.name())
        {
            return Ok(scan);
        }
        let renames: Vec<(Arc<dyn PhysicalExpr>, String)> = output
            .fields()
            .iter()
            .zip(logical.fields())
            .enumerate()
            .map(|(index, (physical, logical))| {
                let column: Arc<dyn PhysicalExpr> = Arc::new(
                    datafusion_physical_expr::expressions::Column::new(physical.name(), index),
                );
                (column, logical.name().clone())
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(renames, scan)?))
    }
}
