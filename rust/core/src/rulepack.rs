//! The rulepack: the named, versioned set of physical optimizer rules that
//! flightserver installs into every session, built from one configuration.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use datafusion_physical_optimizer::PhysicalOptimizerRule;

use crate::scan_budget::{ScanBudget, ScanBudgetGuard};

pub const RULEPACK_NAME: &str = "flightserver.rulepack";
/// Bumped whenever a rule is added, removed or changes behaviour, so plan
/// artifacts can tell which rules shaped a plan.
pub const RULEPACK_VERSION: u32 = 1;

/// Everything the rules are configured with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RulepackConfig {
    pub scan_budget: ScanBudget,
}

/// Counters the rules move as they run, shared with whoever installed them.
#[derive(Debug, Default)]
pub struct RulepackCounters {
    pub scan_budget_checks: Arc<AtomicU64>,
}

/// Builds the rules in the order they must run (after DataFusion's own).
pub fn build_rules(
    config: &RulepackConfig,
    counters: &RulepackCounters,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    vec![Arc::new(ScanBudgetGuard::new(
        config.scan_budget,
        Arc::clone(&counters.scan_budget_checks),
    ))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rulepack_starts_with_the_scan_budget_guard() {
        let rules = build_rules(&RulepackConfig::default(), &RulepackCounters::default());
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(names, vec![ScanBudgetGuard::NAME]);
    }
}
