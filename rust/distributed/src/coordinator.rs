//! The coordinator: native DataFusion sessions of our own (one per rulepack,
//! all sharing one catalog) that plan with datafusion-distributed's query
//! planner and ship stages to workers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::memory::DataSourceExec;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion_distributed::{
    DistributedExec, DistributedExt, RouteTasksEvent, RouteTasksEventResponse,
    SessionStateBuilderExt, WorkerResolver, display_plan_ascii,
};
use flightserver_core::delta::DeltaTableProvider;
use tokio::runtime::Handle;
use url::Url;

use crate::auth::secret_header_for;
use crate::channels::{ChannelTimeouts, WorkerChannels};
use crate::delta::{DeltaScanCodec, delta_desired_task_count, delta_scale_up};
use crate::fanout::FanOutPlanner;
use crate::whole_files::{whole_file_scale_up, whole_file_task_count};
use crate::workers::{Probing, WorkerPool, WorkerSource};

/// How the coordinator is built.
pub struct CoordinatorOptions {
    pub workers: WorkerSource,
    pub probing: Probing,
    /// The shared secret workers require (`None`: workers that require none).
    pub secret: Option<String>,
    pub timeouts: ChannelTimeouts,
    /// DataFusion settings, the same the wheel's contexts get (`datafusion.runtime.*`
    /// ones are SET on each session).
    pub settings: Vec<(String, String)>,
    /// datafusion-distributed's scan sizing: bytes of files per partition of a
    /// task. A scan is split over tasks only beyond this times the target
    /// partitions: the "small queries stay local" threshold.
    pub bytes_per_partition: usize,
    /// A result of 2 to this many final partitions is served as that many
    /// Flight endpoints (1: one stream), as the server's `max_endpoints`.
    pub max_endpoints: usize,
}

const RUNTIME_PREFIX: &str = "datafusion.runtime.";

/// The settings a `SessionConfig` takes (all but the runtime's).
fn config_settings(settings: &[(String, String)]) -> impl Iterator<Item = (&String, &String)> {
    settings
        .iter()
        .filter(|(key, _)| !key.starts_with(RUNTIME_PREFIX))
        .map(|(key, value)| (key, value))
}

/// Listing tables' sizes are looked up again after this long.
const LISTING_SIZE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct TableSize {
    bytes: u64,
    /// A listing table, measured again once `at` is older than `LISTING_SIZE_TTL`.
    listing: Option<Arc<dyn TableProvider>>,
    at: Instant,
}

/// One catalog for every session of the coordinator.
pub struct Coordinator {
    options: CoordinatorOptions,
    pool: WorkerPool,
    channels: WorkerChannels,
    catalogs: Arc<MemoryCatalogProviderList>,
    default_catalog: String,
    default_schema: String,
    target_partitions: usize,
    sizes: Mutex<HashMap<String, TableSize>>,
    /// The session DDL runs in (no rulepack: DDL never reaches the physical planner).
    base: SessionContext,
    next_worker: Arc<AtomicUsize>,
}

/// Where a statement should run, and why.
#[derive(Debug, Clone)]
pub struct Route {
    /// Every table it reads is served by the coordinator, and the largest scan
    /// is beyond the threshold: worth planning with datafusion-distributed.
    pub distributable: bool,
    pub largest_scan_bytes: u64,
    pub threshold_bytes: u64,
    pub workers_up: usize,
    pub reason: String,
}

impl Coordinator {
    pub async fn new(options: CoordinatorOptions, runtime: &Handle) -> Result<Arc<Self>> {
        let secret = secret_header_for(options.secret.as_deref())?;
        let pool = WorkerPool::start(options.workers.clone(), options.probing, runtime).await;
        let channels = WorkerChannels::new(secret, options.timeouts);
        let mut config = SessionConfig::new();
        for (key, value) in config_settings(&options.settings) {
            config.options_mut().set(key, value)?;
        }
        let default_catalog = config.options().catalog.default_catalog.clone();
        let default_schema = config.options().catalog.default_schema.clone();
        let target_partitions = config.target_partitions();
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema(&default_schema, Arc::new(MemorySchemaProvider::new()))?;
        catalogs.register_catalog(default_catalog.clone(), Arc::new(catalog));
        let mut coordinator = Self {
            options,
            pool,
            channels,
            catalogs,
            default_catalog,
            default_schema,
            target_partitions,
            sizes: Mutex::default(),
            base: SessionContext::new(),
            next_worker: Arc::default(),
        };
        coordinator.base = coordinator.session(Vec::new()).await?;
        Ok(Arc::new(coordinator))
    }

    /// A session with `rules` (a role's rulepack) after DataFusion's own, on the
    /// shared catalog.
    pub async fn session(
        &self,
        rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
    ) -> Result<SessionContext> {
        let mut config = SessionConfig::new();
        for (key, value) in config_settings(&self.options.settings) {
            config.options_mut().set(key, value)?;
        }
        // The shared catalog list has the default catalog: a session must not replace it.
        config
            .options_mut()
            .catalog
            .create_default_catalog_and_schema = false;
        let mut builder = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_catalog_list(Arc::clone(&self.catalogs) as Arc<dyn CatalogProviderList>)
            .with_runtime_env(Arc::new(RuntimeEnv::default()));
        for rule in rules {
            builder = builder.with_physical_optimizer_rule(rule);
        }
        let pool = self.pool.clone();
        let next = Arc::clone(&self.next_worker);
        let state = builder
            // Below datafusion-distributed's planner, which wraps the one installed before it.
            .with_query_planner(Arc::new(FanOutPlanner {
                max_endpoints: self.options.max_endpoints,
            }))
            .with_distributed_worker_resolver(self.pool.clone())
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_user_codec(DeltaScanCodec)
            .with_distributed_desired_task_count_handler(delta_desired_task_count)
            .with_distributed_scale_up_leaf_node_handler(delta_scale_up)
            .with_distributed_desired_task_count_handler(whole_file_task_count)
            .with_distributed_scale_up_leaf_node_handler(whole_file_scale_up)
            .with_distributed_route_tasks_handler(move |ev: RouteTasksEvent<'_>| {
                Some(route_tasks(&pool, &next, ev))
            })
            .with_distributed_planner()
            .with_distributed_file_scan_config_bytes_per_partition(
                self.options.bytes_per_partition,
            )?
            .build();
        let ctx = SessionContext::from(state);
        // Runtime settings (`datafusion.runtime.*`) apply to a context's runtime only by SET.
        for (key, value) in &self.options.settings {
            if key.starts_with(RUNTIME_PREFIX) {
                let value = value.replace('\'', "''");
                ctx.sql(&format!("SET {key} = '{value}'"))
                    .await?
                    .collect()
                    .await?;
            }
        }
        Ok(ctx)
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.pool
    }

    fn key(&self, reference: &TableReference) -> String {
        let resolved = reference
            .clone()
            .resolve(&self.default_catalog, &self.default_schema);
        format!(
            "{}.{}.{}",
            resolved.catalog, resolved.schema, resolved.table
        )
    }

    fn schema(&self, catalog: &str, schema: &str) -> Result<Arc<dyn SchemaProvider>> {
        let catalog_provider = match self.catalogs.catalog(catalog) {
            Some(existing) => existing,
            None => {
                let created: Arc<dyn CatalogProvider> = Arc::new(MemoryCatalogProvider::new());
                self.catalogs
                    .register_catalog(catalog.to_owned(), Arc::clone(&created));
                created
            }
        };
        if let Some(existing) = catalog_provider.schema(schema) {
            return Ok(existing);
        }
        let created: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog_provider.register_schema(schema, Arc::clone(&created))?;
        Ok(created)
    }

    /// Registers the table `ddl` (`CREATE EXTERNAL TABLE catalog.schema.name ...`,
    /// the text the wheel's context ran) creates, replacing one of that name.
    pub async fn register_ddl(&self, qualified: [&str; 3], ddl: &str) -> Result<()> {
        let [catalog, schema, name] = qualified;
        let target = self.schema(catalog, schema)?;
        target.deregister_table(name)?;
        self.base.sql(ddl).await?.collect().await?;
        let provider = target
            .table(name)
            .await?
            .ok_or_else(|| DataFusionError::Plan(format!("{ddl:?} registered no table")))?;
        self.remember_size(&qualified.join("."), &provider).await;
        Ok(())
    }

    /// Registers `provider` (the same object the wheel's context holds).
    pub async fn register_table(
        &self,
        qualified: [&str; 3],
        provider: Arc<dyn TableProvider>,
    ) -> Result<()> {
        let [catalog, schema, name] = qualified;
        self.schema(catalog, schema)?
            .register_table(name.to_owned(), Arc::clone(&provider))?;
        self.remember_size(&qualified.join("."), &provider).await;
        Ok(())
    }

    pub fn deregister(&self, qualified: [&str; 3]) -> Result<()> {
        let [catalog, schema, name] = qualified;
        if let Some(target) = self
            .catalogs
            .catalog(catalog)
            .and_then(|c| c.schema(schema))
        {
            target.deregister_table(name)?;
        }
        self.sizes
            .lock()
            .expect("sizes lock")
            .remove(&qualified.join("."));
        Ok(())
    }

    async fn remember_size(&self, key: &str, provider: &Arc<dyn TableProvider>) {
        let size = self.measure(provider).await;
        let mut sizes = self.sizes.lock().expect("sizes lock");
        match size {
            Some(size) => sizes.insert(key.to_owned(), size),
            None => sizes.remove(key),
        };
    }

    /// The bytes a full scan of `provider` reads: a Delta pin's files, or a
    /// listing table's files now. `None`: a table workers cannot read.
    async fn measure(&self, provider: &Arc<dyn TableProvider>) -> Option<TableSize> {
        if let Some(delta) = provider.downcast_ref::<DeltaTableProvider>() {
            return Some(TableSize {
                bytes: delta.pinned_bytes(),
                listing: None,
                at: Instant::now(),
            });
        }
        let listing = provider.downcast_ref::<ListingTable>()?;
        let state = self.base.state();
        let scan = listing.scan(&state, None, &[], None).await.ok()?;
        Some(TableSize {
            bytes: file_bytes(&scan),
            listing: Some(Arc::clone(provider)),
            at: Instant::now(),
        })
    }

    /// Whether `sql` (a query, or EXPLAIN of one) is worth distributing.
    pub async fn route(&self, sql: &str) -> Route {
        let threshold =
            (self.options.bytes_per_partition as u64).saturating_mul(self.target_partitions as u64);
        let workers_up = self.pool.up().len();
        let local = |largest: u64, reason: String| Route {
            distributable: false,
            largest_scan_bytes: largest,
            threshold_bytes: threshold,
            workers_up,
            reason,
        };
        let references = match query_tables(sql) {
            Ok(references) => references,
            Err(reason) => return local(0, reason),
        };
        let mut largest = 0;
        for reference in &references {
            let key = self.key(reference);
            let known = self.sizes.lock().expect("sizes lock").get(&key).cloned();
            let Some(mut size) = known else {
                return local(0, format!("table {key} is not served by workers"));
            };
            if let Some(provider) = &size.listing
                && size.at.elapsed() > LISTING_SIZE_TTL
                && let Some(fresh) = self.measure(provider).await
            {
                let mut sizes = self.sizes.lock().expect("sizes lock");
                // Unless the table was replaced or dropped meanwhile.
                if let Some(held) = sizes.get_mut(&key)
                    && held.at == size.at
                {
                    *held = fresh.clone();
                }
                size = fresh;
            }
            largest = largest.max(size.bytes);
        }
        if references.is_empty() {
            return local(0, "reads no table".to_owned());
        }
        if workers_up == 0 {
            return local(largest, "no worker is up".to_owned());
        }
        if largest <= threshold {
            return local(
                largest,
                format!("largest scan {largest} bytes, within the threshold of {threshold}"),
            );
        }
        Route {
            distributable: true,
            largest_scan_bytes: largest,
            threshold_bytes: threshold,
            workers_up,
            reason: format!(
                "largest scan {largest} bytes, beyond the threshold of {threshold}; {workers_up} workers up"
            ),
        }
    }
}

/// The tables a query (or the query EXPLAIN describes) reads; Err: not a query.
fn query_tables(sql: &str) -> Result<Vec<TableReference>, String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|err| err.to_string())?;
    if statements.len() != 1 {
        return Err("not a single statement".to_owned());
    }
    let statement = statements.pop_front().expect("one statement");
    let query = match &statement {
        Statement::Statement(inner) => matches!(
            inner.as_ref(),
            datafusion::sql::sqlparser::ast::Statement::Query(_)
        ),
        Statement::Explain(explain) => matches!(
            explain.statement.as_ref(),
            Statement::Statement(inner)
                if matches!(inner.as_ref(), datafusion::sql::sqlparser::ast::Statement::Query(_))
        ),
        _ => false,
    };
    if !query {
        return Err("not a query".to_owned());
    }
    let (tables, _ctes) =
        resolve_table_references(&statement, true).map_err(|err| err.to_string())?;
    Ok(tables)
}

/// Bytes of the files a listing table's scan plan reads.
fn file_bytes(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut bytes = 0;
    let _ = plan.apply(|node| {
        if let Some(config) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|source| source.data_source().downcast_ref::<FileScanConfig>())
        {
            bytes += config
                .file_groups
                .iter()
                .flat_map(|group| group.iter())
                .map(|file| file.effective_size())
                .sum::<u64>();
        }
        Ok(TreeNodeRecursion::Continue)
    });
    bytes
}

/// The workers each stage's tasks went to, for the query's artifact.
#[derive(Debug, Default)]
pub struct StageLog {
    pub stages: Mutex<Vec<(String, Vec<Url>)>>,
}

/// Tasks to the workers that are up, round robin across queries, recorded in
/// the query's `StageLog`.
fn route_tasks(
    pool: &WorkerPool,
    next: &AtomicUsize,
    ev: RouteTasksEvent<'_>,
) -> Result<RouteTasksEventResponse> {
    let urls = pool.get_urls()?;
    if urls.is_empty() {
        return Err(DataFusionError::External(
            "flightserver: no worker is up".into(),
        ));
    }
    let start = next.fetch_add(ev.task_count, Ordering::Relaxed);
    let chosen: Vec<Url> = (0..ev.task_count)
        .map(|i| urls[(start + i) % urls.len()].clone())
        .collect();
    if let Some(log) = ev.task_ctx.session_config().get_extension::<StageLog>() {
        log.stages
            .lock()
            .expect("stage log lock")
            .push((ev.plan.name().to_owned(), chosen.clone()));
    }
    Ok(RouteTasksEventResponse::new(chosen))
}

/// Plans `sql` in `session`: a `DistributedExec` when datafusion-distributed
/// distributes it, else the ordinary local plan.
pub async fn plan(session: &SessionContext, sql: &str) -> Result<Arc<dyn ExecutionPlan>> {
    session.sql(sql).await?.create_physical_plan().await
}

/// Runs `plan` as one stream, recording where its stages went in `log`.
pub fn execute(
    session: &SessionContext,
    plan: Arc<dyn ExecutionPlan>,
    log: Arc<StageLog>,
) -> Result<SendableRecordBatchStream> {
    let state = session.state();
    let mut config = state.config().clone();
    config.set_extension(log);
    let task_ctx = Arc::new(TaskContext::from(&state).with_session_config(config));
    execute_stream(plan, task_ctx)
}

/// Whether datafusion-distributed distributed the plan (its root is a `DistributedExec`).
pub fn is_distributed(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<DistributedExec>()
}

/// The plan with its stages and tasks (datafusion-distributed's rendering).
pub fn display(plan: &Arc<dyn ExecutionPlan>) -> String {
    display_plan_ascii(plan.as_ref(), false)
}
