//! The scan recorder rule: writes down, per physical plan, every scan it will
//! run: for flightserver's Delta scans the snapshot version, the exact files,
//! their hash and what pruning left out; for other scans (the host's, opaque
//! over the FFI) the node, its partitions and its statistics' estimates, into
//! the plan's manifest, which the server takes for the query's artifact.

use std::sync::Arc;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::delta::DeltaScanExec;
use crate::scan_budget::leaf_estimates;
use crate::scan_manifest::{DeltaScanEntry, MANIFESTS, ScanEntry};

#[derive(Debug, Default)]
pub struct ScanRecorder;

impl ScanRecorder {
    pub const NAME: &'static str = "flightserver.scan_recorder";
}

/// The scans of `plan`, leaves first to last.
pub fn scans_of(plan: &Arc<dyn ExecutionPlan>) -> Vec<ScanEntry> {
    let mut scans = Vec::new();
    collect(plan, &mut scans);
    scans
}

fn collect(plan: &Arc<dyn ExecutionPlan>, scans: &mut Vec<ScanEntry>) {
    let delta = plan.downcast_ref::<DeltaScanExec>();
    let children = plan.children();
    if delta.is_none() && !children.is_empty() {
        children.into_iter().for_each(|child| collect(child, scans));
        return;
    }
    let (estimated_rows, estimated_bytes) = leaf_estimates(plan);
    scans.push(ScanEntry {
        node: plan.name().to_string(),
        partitions: plan.output_partitioning().partition_count(),
        estimated_rows,
        estimated_bytes,
        delta: delta.map(|scan| {
            let info = scan.info();
            let record = &info.record;
            DeltaScanEntry {
                table_root: info.table_root.clone(),
                version: record.version,
                files: record.files.clone(),
                file_count: record.file_count(),
                files_sha256: record.files_hash(),
                candidate_files: record.candidate_files,
                pruned_files: record.candidate_files.saturating_sub(record.file_count()),
                bytes: info.bytes,
            }
        }),
    });
}

impl PhysicalOptimizerRule for ScanRecorder {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        MANIFESTS.register_current(
            scans_of(&plan),
            plan.output_partitioning().partition_count(),
        );
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
    use crate::delta::{DeltaScanInfo, ScanLog};
    use crate::flight_output::FlightOutputRule;
    use crate::scan_manifest::ScanManifest;
    use arrow_schema::{DataType, Field, Schema};
    use datafusion_common::arrow::array::{Int64Array, RecordBatch};
    use datafusion_physical_plan::empty::EmptyExec;
    use datafusion_physical_plan::test::TestMemoryExec;
    use datafusion_physical_plan::union::UnionExec;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]))
    }

    /// A host-style scan: two partitions of three rows each.
    fn memory_scan() -> Arc<dyn ExecutionPlan> {
        let batch = RecordBatch::try_new(
            schema(),
            vec![Arc::new(Int64Array::from(vec![1_i64, 2, 3]))],
        )
        .unwrap();
        TestMemoryExec::try_new_exec(&[vec![batch.clone()], vec![batch]], schema(), None).unwrap()
    }

    fn delta_scan(files: &[&str], candidates: usize) -> Arc<dyn ExecutionPlan> {
        let record =
            ScanLog::default().record(7, files.iter().map(|f| f.to_string()).collect(), candidates);
        let info = DeltaScanInfo {
            table_root: "file:///data/events/".to_string(),
            record,
            bytes: 2048,
        };
        Arc::new(DeltaScanExec::new(Arc::new(EmptyExec::new(schema())), info))
    }

    /// The plan after the recorder, and the manifest it wrote.
    fn recorded(plan: Arc<dyn ExecutionPlan>) -> (Arc<dyn ExecutionPlan>, ScanManifest) {
        let out = ScanRecorder
            .optimize(Arc::clone(&plan), &ConfigOptions::new())
            .unwrap();
        assert!(
            Arc::ptr_eq(&plan, &out),
            "the recorder leaves the plan alone"
        );
        (out, MANIFESTS.take_current().expect("registered"))
    }

    #[test]
    fn records_delta_files_and_pruning_and_other_scans_estimates() {
        let plan: Arc<dyn ExecutionPlan> = UnionExec::try_new(vec![
            delta_scan(&["day=2/b.parquet", "day=1/a.parquet"], 5),
            memory_scan(),
        ])
        .unwrap();
        let (_, manifest) = recorded(plan);
        assert_eq!(manifest.scans.len(), 2);

        let delta = manifest.scans[0].delta.as_ref().expect("a Delta scan");
        assert_eq!(manifest.scans[0].node, "DeltaScanExec[v7 files=2/5]");
        assert_eq!(delta.version, 7);
        assert_eq!(delta.files, vec!["day=1/a.parquet", "day=2/b.parquet"]);
        assert_eq!(
            (delta.file_count, delta.candidate_files, delta.pruned_files),
            (2, 5, 3)
        );
        assert_eq!(
            delta.files_sha256,
            crate::delta::file_set_hash(&delta.files)
        );
        assert_eq!(delta.bytes, 2048);

        let other = &manifest.scans[1];
        assert!(other.delta.is_none());
        assert_eq!(other.partitions, 2);
        assert_eq!(other.estimated_rows, Some(6));
        assert_eq!(manifest.output_partitions, 3);
    }

    #[test]
    fn output_partitions_become_endpoints_up_to_the_maximum() {
        for (max_endpoints, expected) in [(1, 1), (2, 2), (8, 2)] {
            let plan = memory_scan();
            ScanRecorder
                .optimize(Arc::clone(&plan), &ConfigOptions::new())
                .unwrap();
            let shaped = FlightOutputRule::new(max_endpoints)
                .optimize(Arc::clone(&plan), &ConfigOptions::new())
                .unwrap();
            assert!(Arc::ptr_eq(&plan, &shaped), "no nodes are added");
            let manifest = MANIFESTS.take_current().expect("registered");
            assert_eq!(
                manifest.endpoints, expected,
                "max_endpoints={max_endpoints}"
            );
        }
        // More partitions than endpoints allowed: one merged stream.
        assert_eq!(FlightOutputRule::new(4).endpoints(5), 1);
    }
}
