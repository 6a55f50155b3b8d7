//! The coordinator session: DataFusion's defaults plus our physical rules,
//! with datafusion-distributed's planner wrapped around the default planner.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{
    DistributedExec, DistributedExt, SessionStateBuilderExt, WorkerResolver, display_plan_ascii,
};
use url::Url;

/// A fixed list of worker URLs (`--workers HOST:PORT,...`).
#[derive(Debug, Clone)]
pub struct StaticWorkers(pub Vec<Url>);

impl WorkerResolver for StaticWorkers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.0.clone())
    }
}

/// How the coordinator session is built.
pub struct CoordinatorOptions {
    /// Workers, as `HOST:PORT` or URLs (`http://127.0.0.1:50051`).
    pub workers: Vec<String>,
    /// DataFusion settings, the same the wheel's contexts get.
    pub settings: Vec<(String, String)>,
    /// Physical optimizer rules appended after DataFusion's (our rulepack).
    pub rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
    /// datafusion-distributed's scan sizing: bytes of files per task; the
    /// "small queries stay local" threshold.
    pub bytes_per_partition: usize,
}

/// A native session planning with datafusion-distributed.
pub struct Coordinator {
    ctx: SessionContext,
}

impl Coordinator {
    pub fn new(options: CoordinatorOptions) -> Result<Self> {
        let workers = options
            .workers
            .iter()
            .map(|worker| worker_url(worker))
            .collect::<Result<Vec<_>>>()?;
        let mut config = SessionConfig::new();
        for (key, value) in &options.settings {
            config.options_mut().set(key, value)?;
        }
        let mut builder = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(Arc::new(RuntimeEnv::default()));
        for rule in options.rules {
            builder = builder.with_physical_optimizer_rule(rule);
        }
        let state = builder
            .with_distributed_worker_resolver(StaticWorkers(workers))
            .with_distributed_planner()
            .with_distributed_file_scan_config_bytes_per_partition(options.bytes_per_partition)?
            .build();
        Ok(Self {
            ctx: SessionContext::from(state),
        })
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs a statement that returns no rows (DDL: `CREATE EXTERNAL TABLE`).
    pub async fn execute_ddl(&self, sql: &str) -> Result<()> {
        self.ctx.sql(sql).await?.collect().await?;
        Ok(())
    }

    /// Registers a provider object shared with the wheel's context (the same `Arc`).
    pub fn register_table(&self, name: &str, provider: Arc<dyn TableProvider>) -> Result<()> {
        self.ctx.register_table(name, provider)?;
        Ok(())
    }

    /// Plans `sql` to a physical plan: distributed when datafusion-distributed
    /// finds it worth it, otherwise the ordinary local plan.
    pub async fn plan(&self, sql: &str) -> Result<Arc<dyn ExecutionPlan>> {
        self.ctx.sql(sql).await?.create_physical_plan().await
    }

    /// Executes a plan made by [`Self::plan`] as one stream.
    pub fn execute(&self, plan: Arc<dyn ExecutionPlan>) -> Result<SendableRecordBatchStream> {
        execute_stream(plan, self.ctx.task_ctx())
    }
}

/// Whether datafusion-distributed distributed the plan (its root is a `DistributedExec`).
pub fn is_distributed(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<DistributedExec>()
}

/// The plan with its stages and tasks (datafusion-distributed's rendering).
pub fn display(plan: &Arc<dyn ExecutionPlan>) -> String {
    display_plan_ascii(plan.as_ref(), false)
}

/// `HOST:PORT` as the `http://HOST:PORT` URL datafusion-distributed dials;
/// URLs pass unchanged.
pub fn worker_url(worker: &str) -> Result<Url> {
    let text = if worker.contains("://") {
        worker.to_owned()
    } else {
        format!("http://{worker}")
    };
    Url::parse(&text)
        .map_err(|err| DataFusionError::Configuration(format!("worker {worker:?}: {err}")))
}
