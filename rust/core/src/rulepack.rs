//! The rulepack: the named, versioned set of physical optimizer rules that
//! flightserver installs into every session, built from one configuration.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use datafusion_common::Result;
use datafusion_common::config::ConfigOptions;
use datafusion_physical_plan::ExecutionPlan;

use crate::flight_output::FlightOutputRule;
use crate::hashing::sha256_hex;
use crate::ordered_output::OrderedOutput;
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use serde::Serialize;

use crate::policy::PolicyConfig;
use crate::policy::result_rows::ResultRowsGuard;
use crate::policy::sink_guard::SinkGuard;
use crate::scan_budget::{ScanBudget, ScanBudgetGuard};
use crate::scan_recorder::ScanRecorder;

pub const RULEPACK_NAME: &str = "flightserver.rulepack";
/// Bumped whenever a rule is added, removed or changes behaviour, so plan
/// artifacts can tell which rules shaped a plan.
pub const RULEPACK_VERSION: u32 = 4;

/// Everything the rules are configured with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RulepackConfig {
    pub scan_budget: ScanBudget,
    /// Whether plans may write data (the sink guard).
    pub writes_allowed: bool,
    pub max_result_rows: Option<u64>,
    /// Most Flight endpoints one result may be served as (1: always one stream).
    pub max_endpoints: usize,
}

impl RulepackConfig {
    /// The rules' part of a policy.
    pub fn from_policy(policy: &PolicyConfig) -> Self {
        Self {
            scan_budget: ScanBudget {
                max_scan_rows: policy.max_scan_rows,
                max_scan_bytes: policy.max_scan_bytes,
            },
            writes_allowed: policy.allows_writes(),
            max_result_rows: policy.max_result_rows,
            max_endpoints: 1,
        }
    }

    /// This configuration, serving results as up to `max_endpoints` endpoints.
    pub fn with_max_endpoints(self, max_endpoints: usize) -> Self {
        Self {
            max_endpoints: max_endpoints.max(1),
            ..self
        }
    }

    /// SHA-256 (hex) of this configuration's JSON: with the name and version,
    /// it identifies exactly which rules shaped a plan.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a rulepack config always serializes");
        sha256_hex(&json)
    }
}

/// Counters the rules move as they run, shared with whoever installed them.
#[derive(Debug, Default)]
pub struct RulepackCounters {
    pub scan_budget_checks: Arc<AtomicU64>,
}

/// One physical optimizer rule, shared with the host.
pub type SharedRule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// The rules run as one: a host installing rules through the FFI passes every
/// plan across it once per rule (about 70 µs each for a small plan, measured),
/// so installing the sequence instead crosses it once.
#[derive(Debug)]
pub struct RuleSequence {
    rules: Vec<SharedRule>,
}

impl RuleSequence {
    pub fn new(rules: Vec<SharedRule>) -> Self {
        Self { rules }
    }
}

impl PhysicalOptimizerRule for RuleSequence {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rules
            .iter()
            .try_fold(plan, |plan, rule| rule.optimize(plan, config))
    }

    fn name(&self) -> &str {
        RULEPACK_NAME
    }

    fn schema_check(&self) -> bool {
        self.rules.iter().all(|rule| rule.schema_check())
    }
}

/// Builds the rules in the order they must run (after DataFusion's own).
pub fn build_rules(config: &RulepackConfig, counters: &RulepackCounters) -> Vec<SharedRule> {
    vec![
        Arc::new(ScanBudgetGuard::new(
            config.scan_budget,
            Arc::clone(&counters.scan_budget_checks),
        )),
        Arc::new(SinkGuard::new(config.writes_allowed)),
        Arc::new(ResultRowsGuard::new(config.max_result_rows)),
        // Last: the recorder puts the root the output rule shapes.
        Arc::new(ScanRecorder),
        Arc::new(OrderedOutput),
        Arc::new(FlightOutputRule::new(config.max_endpoints)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rulepack_holds_the_guards_in_order() {
        let rules = build_rules(&RulepackConfig::default(), &RulepackCounters::default());
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            vec![
                ScanBudgetGuard::NAME,
                SinkGuard::NAME,
                ResultRowsGuard::NAME,
                ScanRecorder::NAME,
                OrderedOutput::NAME,
                FlightOutputRule::NAME
            ]
        );
    }

    #[test]
    fn the_sequence_runs_every_rule_in_order() {
        use datafusion_physical_plan::empty::EmptyExec;
        let counters = RulepackCounters::default();
        let config = RulepackConfig::default();
        let sequence = RuleSequence::new(build_rules(&config, &counters));
        let plan: Arc<dyn ExecutionPlan> =
            Arc::new(EmptyExec::new(Arc::new(arrow_schema::Schema::empty())));
        let optimized = sequence
            .optimize(Arc::clone(&plan), &ConfigOptions::default())
            .expect("an empty plan passes every rule");
        assert_eq!(optimized.name(), plan.name());
        assert_eq!(sequence.name(), RULEPACK_NAME);
        assert!(sequence.schema_check());
        // The scan budget, the first rule, ran once.
        assert_eq!(
            counters
                .scan_budget_checks
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn config_comes_from_the_policy_and_its_hash_follows_it() {
        let mut policy = PolicyConfig::read_only();
        policy.max_scan_bytes = Some(10);
        policy.max_result_rows = Some(3);
        let config = RulepackConfig::from_policy(&policy);
        assert_eq!(config.scan_budget.max_scan_bytes, Some(10));
        assert_eq!(config.max_result_rows, Some(3));
        assert!(!config.writes_allowed);
        policy.allow_copy = true;
        let writing = RulepackConfig::from_policy(&policy);
        assert!(writing.writes_allowed);

        assert_eq!(config.hash().len(), 64);
        assert_eq!(
            config.hash(),
            RulepackConfig::from_policy(&PolicyConfig {
                allow_copy: false,
                ..policy.clone()
            })
            .hash()
        );
        assert_ne!(config.hash(), writing.hash());
        // Settings the rules do not read do not change the hash.
        policy.allow_ddl = !policy.allow_ddl;
        assert_eq!(writing.hash(), RulepackConfig::from_policy(&policy).hash());
    }
}
