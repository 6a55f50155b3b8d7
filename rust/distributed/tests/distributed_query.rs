//! One aggregate over a Parquet listing table, planned by datafusion-distributed
//! and run on two loopback workers, returns what the local plan returns; workers
//! with a secret refuse a coordinator without it.

use std::time::Duration;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use flightserver_distributed::channels::ChannelTimeouts;
use flightserver_distributed::coordinator::{display, execute, is_distributed, plan};
use flightserver_distributed::workers::{Probing, WorkerSource};
use flightserver_distributed::{
    Coordinator, CoordinatorOptions, StageLog, WorkerOptions, WorkerService, start_worker,
};
use futures::TryStreamExt;
use std::sync::Arc;
use tokio::runtime::Handle;

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

async fn coordinator(
    workers: Vec<String>,
    secret: Option<&str>,
    bytes_per_partition: usize,
) -> Arc<Coordinator> {
    Coordinator::new(
        CoordinatorOptions {
            workers: WorkerSource::Static(workers),
            probing: Probing {
                interval: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
            },
            secret: secret.map(str::to_owned),
            timeouts: ChannelTimeouts::default(),
            settings: vec![("datafusion.execution.target_partitions".into(), "2".into())],
            bytes_per_partition,
            max_endpoints: 1,
        },
        &Handle::current(),
    )
    .await
    .unwrap()
}

async fn workers(secret: Option<&str>) -> Vec<WorkerService> {
    let options = WorkerOptions {
        secret: secret.map(str::to_owned),
        ..WorkerOptions::default()
    };
    vec![
        start_worker("127.0.0.1", 0, options.clone()).await.unwrap(),
        start_worker("127.0.0.1", 0, options).await.unwrap(),
    ]
}

fn addresses(workers: &[WorkerService]) -> Vec<String> {
    workers.iter().map(|w| w.address.to_string()).collect()
}

async fn table_folder(name: &str) -> (std::path::PathBuf, String) {
    let folder = std::env::temp_dir().join(format!("fs-distributed-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    write_table(&folder).await;
    let ddl = format!(
        "CREATE EXTERNAL TABLE datafusion.public.t STORED AS PARQUET LOCATION '{}/'",
        folder.display()
    );
    (folder, ddl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_runs_on_two_workers() {
    let (folder, ddl) = table_folder("aggregate").await;
    let workers = workers(Some("s3cret")).await;

    // A threshold of one byte: every scan is worth distributing.
    let distributed = coordinator(addresses(&workers), Some("s3cret"), 1).await;
    distributed
        .register_ddl(["datafusion", "public", "t"], &ddl)
        .await
        .unwrap();
    assert!(distributed.route(AGGREGATE).await.distributable);
    let session = distributed.session(Vec::new()).await.unwrap();
    let planned = plan(&session, AGGREGATE).await.unwrap();
    assert!(
        is_distributed(&planned),
        "not distributed:\n{}",
        display(&planned)
    );
    assert!(display(&planned).contains("Stage"), "{}", display(&planned));
    let log = Arc::new(StageLog::default());
    let batches: Vec<_> = execute(&session, planned, Arc::clone(&log))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let stages = log.stages.lock().unwrap().clone();
    assert!(!stages.is_empty(), "no stage was routed to a worker");

    // The default threshold (16 MiB a partition) keeps this small table local.
    let local = coordinator(addresses(&workers), Some("s3cret"), 16 * 1024 * 1024).await;
    local
        .register_ddl(["datafusion", "public", "t"], &ddl)
        .await
        .unwrap();
    let route = local.route(AGGREGATE).await;
    assert!(!route.distributable, "{route:?}");
    let session = local.session(Vec::new()).await.unwrap();
    let planned = plan(&session, AGGREGATE).await.unwrap();
    assert!(
        !is_distributed(&planned),
        "distributed:\n{}",
        display(&planned)
    );
    let expected: Vec<_> = execute(&session, planned, Arc::default())
        .unwrap()
        .try_collect()
        .await
        .unwrap();

    assert_eq!(
        pretty_format_batches(&batches).unwrap().to_string(),
        pretty_format_batches(&expected).unwrap().to_string()
    );
    std::fs::remove_dir_all(&folder).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_refuse_a_coordinator_without_their_secret() {
    let (folder, ddl) = table_folder("secret").await;
    let workers = workers(Some("s3cret")).await;
    for secret in [None, Some("wrong")] {
        let coordinator = coordinator(addresses(&workers), secret, 1).await;
        coordinator
            .register_ddl(["datafusion", "public", "t"], &ddl)
            .await
            .unwrap();
        let session = coordinator.session(Vec::new()).await.unwrap();
        let planned = plan(&session, AGGREGATE).await.unwrap();
        assert!(is_distributed(&planned));
        let result: Result<Vec<_>, _> = execute(&session, planned, Arc::default())
            .unwrap()
            .try_collect()
            .await;
        let error = result.expect_err("a worker ran a plan from a coordinator without its secret");
        assert!(
            error.to_string().contains("secret"),
            "unexpected error: {error}"
        );
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_not_served_and_statements_stay_local() {
    let coordinator = coordinator(vec![], None, 1).await;
    let route = coordinator.route("SELECT * FROM missing").await;
    assert!(!route.distributable);
    assert!(route.reason.contains("not served"), "{}", route.reason);
    let route = coordinator.route("INSERT INTO t VALUES (1)").await;
    assert!(!route.distributable);
    assert_eq!(route.reason, "not a query");
}
