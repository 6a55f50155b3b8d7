//! One aggregate over a Parquet listing table, planned by datafusion-distributed
//! and run on two loopback workers, returns what the local plan returns.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use flightserver_distributed::coordinator::{display, is_distributed};
use flightserver_distributed::{Coordinator, CoordinatorOptions, start_worker};
use futures::TryStreamExt;

const AGGREGATE: &str = "SELECT k, count(*) AS n, sum(v) AS total FROM t GROUP BY k ORDER BY k";

async fn write_table(folder: &std::path::Path) {
    let ctx = SessionContext::new();
    for part in 0..3 {
        let sql = format!(
            "COPY (SELECT value AS id, value % 7 AS k, value * 2 AS v FROM range({}, {})) \
             TO '{}/part-{part}.parquet' STORED AS PARQUET",
            part * 1000,
            (part + 1) * 1000,
            folder.display()
        );
        ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    }
}

fn coordinator(workers: Vec<String>, bytes_per_partition: usize) -> Coordinator {
    Coordinator::new(CoordinatorOptions {
        workers,
        settings: vec![("datafusion.execution.target_partitions".into(), "2".into())],
        rules: vec![],
        bytes_per_partition,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_runs_on_two_workers() {
    let folder = std::env::temp_dir().join(format!("fs-distributed-test-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    write_table(&folder).await;
    let ddl = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/'",
        folder.display()
    );

    let workers = [
        start_worker("127.0.0.1", 0).await.unwrap(),
        start_worker("127.0.0.1", 0).await.unwrap(),
    ];
    let addresses: Vec<String> = workers.iter().map(|w| w.address.to_string()).collect();

    // A threshold of one byte: every scan is worth distributing.
    let distributed = coordinator(addresses.clone(), 1);
    distributed.execute_ddl(&ddl).await.unwrap();
    let plan = distributed.plan(AGGREGATE).await.unwrap();
    assert!(
        is_distributed(&plan),
        "not distributed:\n{}",
        display(&plan)
    );
    assert!(display(&plan).contains("Stage"), "{}", display(&plan));
    let batches: Vec<_> = distributed
        .execute(plan)
        .unwrap()
        .try_collect()
        .await
        .unwrap();

    // The default threshold (16 MiB a task) keeps this small table local.
    let local = coordinator(addresses, 16 * 1024 * 1024);
    local.execute_ddl(&ddl).await.unwrap();
    let plan = local.plan(AGGREGATE).await.unwrap();
    assert!(!is_distributed(&plan), "distributed:\n{}", display(&plan));
    let expected: Vec<_> = local.execute(plan).unwrap().try_collect().await.unwrap();

    assert_eq!(
        pretty_format_batches(&batches).unwrap().to_string(),
        pretty_format_batches(&expected).unwrap().to_string()
    );
    std::fs::remove_dir_all(&folder).unwrap();
}
