//! The Delta provider over the tiny tables in `tests/data` (written by
//! `deltalake`, see `make_delta_fixtures.py`).

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use arrow_schema::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::{Result, ScalarValue};
use datafusion_execution::TaskContext;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::{Expr, col, ident, lit};
use datafusion_physical_plan::collect;
use delta_kernel::arrow::array::{Array, AsArray, RecordBatch};
use delta_kernel::arrow::datatypes::Int64Type;
use flightserver_core::delta::{DeltaSnapshot, DeltaTableProvider, file_set_hash};
use tokio::runtime::Runtime;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

fn table(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

fn provider(name: &str, version: Option<u64>) -> DeltaTableProvider {
    let snapshot = DeltaSnapshot::load(&table(name), version, RUNTIME.handle().clone())
        .expect("snapshot loads");
    DeltaTableProvider::new(Arc::new(snapshot))
}

/// Runs a scan of `provider` and returns its batches.
fn scan(provider: &DeltaTableProvider, filters: &[Expr]) -> Result<Vec<RecordBatch>> {
    let plan = provider.plan_scan(
        &ConfigOptions::default(),
        &ExecutionProps::new(),
        None,
        filters,
        None,
    )?;
    RUNTIME.block_on(collect(plan, Arc::new(TaskContext::default())))
}

fn int_column(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    let mut values: Vec<i64> = batches
        .iter()
        .flat_map(|batch| {
            let column = batch
                .column_by_name(name)
                .expect("column")
                .as_primitive::<Int64Type>();
            column
                .iter()
                .map(|v| v.expect("not null"))
                .collect::<Vec<_>>()
        })
        .collect();
    values.sort_unstable();
    values
}

#[test]
fn latest_snapshot_reads_every_file() -> Result<()> {
    let provider = provider("ranges", None);
    assert_eq!(provider.snapshot().version(), 2);
    assert_eq!(provider.snapshot().files().len(), 3);
    let batches = scan(&provider, &[])?;
    assert_eq!(int_column(&batches, "id"), (0..30).collect::<Vec<_>>());
    let label = batches[0].column_by_name("label").expect("label");
    assert_eq!(label.data_type(), &DataType::Utf8);
    let record = provider.last_scan().expect("scan recorded");
    assert_eq!(
        (record.file_count(), record.candidate_files, record.version),
        (3, 3, 2)
    );
    Ok(())
}

#[test]
fn time_travel_reads_an_older_version() -> Result<()> {
    let provider = provider("ranges", Some(0));
    assert_eq!(provider.snapshot().version(), 0);
    assert_eq!(
        int_column(&scan(&provider, &[])?, "id"),
        (0..10).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn statistics_skip_files_that_cannot_match() -> Result<()> {
    let provider = provider("ranges", None);
    let batches = scan(&provider, &[col("id").gt_eq(lit(25_i64))])?;
    let record = provider.last_scan().expect("scan recorded");
    assert_eq!(record.file_count(), 1);
    // Only the file holding ids 20..30 was read (the scan itself does not filter rows).
    assert_eq!(int_column(&batches, "id"), (20..30).collect::<Vec<_>>());

    // No file can hold id 100.
    assert!(
        scan(&provider, &[col("id").eq(lit(100_i64))])?
            .iter()
            .all(|b| b.num_rows() == 0)
    );
    assert_eq!(provider.last_scan().expect("scan recorded").file_count(), 0);
    Ok(())
}

#[test]
fn partition_values_are_read_and_prune() -> Result<()> {
    let provider = provider("partitioned", None);
    let schema = provider.snapshot().schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "part", "label"]);

    let batches = scan(&provider, &[])?;
    let mut rows: Vec<(i64, Option<String>)> = Vec::new();
    for batch in &batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let parts = batch.column(1).as_string::<i32>();
        for row in 0..batch.num_rows() {
            rows.push((
                ids.value(row),
                parts.is_valid(row).then(|| parts.value(row).to_owned()),
            ));
        }
    }
    rows.sort();
    let expected: Vec<(i64, Option<String>)> = (0..20)
        .map(|id| {
            (
                id,
                [Some("a"), Some("b"), Some("c d"), None][id as usize / 5].map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(rows, expected);

    let pruned = provider.prune(&[col("part").eq(lit("c d"))])?;
    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0].partition_values, vec![ScalarValue::from("c d")]);
    assert_eq!(provider.prune(&[col("part").is_null()])?.len(), 1);
    // Partition and statistics pruning together: part 'a' holds ids 0..5 only.
    assert_eq!(
        provider
            .prune(&[col("part").eq(lit("a")), col("id").gt(lit(7_i64))])?
            .len(),
        0
    );
    Ok(())
}

#[test]
fn column_mapping_reads_by_physical_names_and_shows_logical_ones() -> Result<()> {
    let provider = provider("mapped", None);
    assert!(provider.snapshot().unsupported_features().is_empty());
    let batches = scan(&provider, &[])?;
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["Id X", "Part Y"]);
    assert_eq!(int_column(&batches, "Id X"), vec![1, 2, 3, 4]);

    let filter = [ident("Part Y").eq(lit("q")), ident("Id X").gt(lit(3_i64))];
    let batches = scan(&provider, &filter)?;
    assert_eq!(provider.last_scan().expect("scan recorded").file_count(), 1);
    assert_eq!(int_column(&batches, "Id X"), vec![3, 4]);
    assert!(provider.prune(&[ident("Id X").gt(lit(4_i64))])?.is_empty());
    Ok(())
}

#[test]
fn pinned_file_set_is_all_a_scan_reads() -> Result<()> {
    let provider = provider("ranges", None);
    let first = provider.snapshot().files().files()[0].path.clone();
    let pinned = provider.with_pinned_files(std::slice::from_ref(&first))?;
    let batches = scan(&pinned, &[])?;
    assert_eq!(int_column(&batches, "id").len(), 10);
    let record = pinned.last_scan().expect("scan recorded");
    assert_eq!(record.files, vec![first.clone()]);
    assert_eq!(record.candidate_files, 1);
    assert_eq!(record.files_hash(), file_set_hash(&[first]));

    let missing = provider.with_pinned_files(&["no-such-file.parquet".to_owned()]);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("no-such-file.parquet")
    );
    Ok(())
}

#[test]
fn file_set_hash_ignores_order() {
    assert_eq!(file_set_hash(&["b", "a"]), file_set_hash(&["a", "b"]));
    assert_ne!(file_set_hash(&["a"]), file_set_hash(&["a", "b"]));
    assert_eq!(file_set_hash::<&str>(&[]).len(), 64);
}
