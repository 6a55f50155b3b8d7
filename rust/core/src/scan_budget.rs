//! The scan budget guard: refuses a physical plan whose leaf scans are
//! estimated to read more rows or bytes than the configured budget.
//!
//! It reads only what every plan node exposes (children and statistics), so it
//! works on the host's plans that reach it as opaque foreign nodes over the FFI.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion_common::config::ConfigOptions;
use datafusion_common::{DataFusionError, Result};
use datafusion_physical_optimizer::PhysicalOptimizerRule;
use datafusion_physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};

use crate::POLICY_ERROR_PREFIX;

/// Upper bounds on what one query may scan. `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanBudget {
    pub max_scan_rows: Option<u64>,
    pub max_scan_bytes: Option<u64>,
}

/// What a plan's leaves say they will read. Leaves without the statistic are
/// counted apart, so a caller can tell "small" from "unknown".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanEstimate {
    pub leaves: u64,
    pub rows: u64,
    pub bytes: u64,
    pub leaves_without_rows: u64,
    pub leaves_without_bytes: u64,
}

impl ScanEstimate {
    /// Sums the statistics of every leaf (node without children) of `plan`.
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut estimate = Self::default();
        estimate.add_leaves(plan);
        estimate
    }

    fn add_leaves(&mut self, plan: &Arc<dyn ExecutionPlan>) {
        let children = plan.children();
        if !children.is_empty() {
            children
                .into_iter()
                .for_each(|child| self.add_leaves(child));
            return;
        }
        self.leaves += 1;
        let (rows, bytes) = leaf_estimates(plan);
        match rows {
            Some(rows) => self.rows += rows,
            None => self.leaves_without_rows += 1,
        }
        match bytes {
            Some(bytes) => self.bytes += bytes,
            None => self.leaves_without_bytes += 1,
        }
    }
}

/// What a node's statistics say it produces: rows and bytes, each `None`
/// where unknown. A node that cannot report statistics is an unknown, not an
/// error: rules must not break queries they cannot judge.
pub fn leaf_estimates(plan: &Arc<dyn ExecutionPlan>) -> (Option<u64>, Option<u64>) {
    let stats = StatisticsContext::new()
        .compute(plan.as_ref(), &StatisticsArgs::new())
        .ok();
    let rows = stats
        .as_ref()
        .and_then(|s| s.num_rows.get_value().map(|v| *v as u64));
    let bytes = stats
        .as_ref()
        .and_then(|s| s.total_byte_size.get_value().map(|v| *v as u64));
    (rows, bytes)
}

/// Physical optimizer rule enforcing a [`ScanBudget`]. It never rewrites the
/// plan; it counts the plans it checked so tests can see that it ran.
#[derive(Debug)]
pub struct ScanBudgetGuard {
    budget: ScanBudget,
    checked_plans: Arc<AtomicU64>,
}

impl ScanBudgetGuard {
    pub const NAME: &'static str = "flightserver.scan_budget";

    pub fn new(budget: ScanBudget, checked_plans: Arc<AtomicU64>) -> Self {
        Self {
            budget,
            checked_plans,
        }
    }

    fn check(&self, estimate: &ScanEstimate) -> Result<()> {
        let over = |what: &str, estimated: u64, limit: Option<u64>| match limit {
            Some(limit) if estimated > limit => Err(DataFusionError::Plan(format!(
                "{POLICY_ERROR_PREFIX} rule {}: query would scan an estimated {estimated} {what}, over the limit of {limit} {what}",
                Self::NAME
            ))),
            _ => Ok(()),
        };
        over("rows", estimate.rows, self.budget.max_scan_rows)?;
        over("bytes", estimate.bytes, self.budget.max_scan_bytes)
    }
}

impl PhysicalOptimizerRule for ScanBudgetGuard {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.checked_plans.fetch_add(1, Ordering::Relaxed);
        self.check(&ScanEstimate::of(&plan))?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        // The plan is returned unchanged.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema};
    use datafusion_common::stats::Precision;
    use datafusion_common::{ColumnStatistics, Statistics};
    use datafusion_physical_plan::test::exec::StatisticsExec;
    use datafusion_physical_plan::union::UnionExec;

    fn scan(rows: Precision<usize>, bytes: Precision<usize>) -> Arc<dyn ExecutionPlan> {
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let stats = Statistics {
            num_rows: rows,
            total_byte_size: bytes,
            column_statistics: vec![ColumnStatistics::new_unknown()],
        };
        Arc::new(StatisticsExec::new(stats, schema))
    }

    fn guard(budget: ScanBudget) -> (ScanBudgetGuard, Arc<AtomicU64>) {
        let counter = Arc::new(AtomicU64::new(0));
        (ScanBudgetGuard::new(budget, Arc::clone(&counter)), counter)
    }

    fn two_scans() -> Arc<dyn ExecutionPlan> {
        UnionExec::try_new(vec![
            scan(Precision::Exact(600), Precision::Inexact(6_000)),
            scan(Precision::Inexact(400), Precision::Absent),
        ])
        .unwrap()
    }

    #[test]
    fn estimate_sums_leaves_and_counts_unknowns() {
        let estimate = ScanEstimate::of(&two_scans());
        assert_eq!(
            estimate,
            ScanEstimate {
                leaves: 2,
                rows: 1_000,
                bytes: 6_000,
                leaves_without_rows: 0,
                leaves_without_bytes: 1,
            }
        );
    }

    #[test]
    fn plan_within_budget_passes_unchanged() {
        let (rule, counter) = guard(ScanBudget {
            max_scan_rows: Some(1_000),
            max_scan_bytes: Some(6_000),
        });
        let plan = two_scans();
        let out = rule
            .optimize(Arc::clone(&plan), &ConfigOptions::new())
            .unwrap();
        assert!(Arc::ptr_eq(&plan, &out));
        assert_eq!(counter.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn plan_over_row_budget_is_refused_with_the_numbers() {
        let (rule, counter) = guard(ScanBudget {
            max_scan_rows: Some(999),
            max_scan_bytes: None,
        });
        let err = rule
            .optimize(two_scans(), &ConfigOptions::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(POLICY_ERROR_PREFIX), "{err}");
        assert!(err.contains(ScanBudgetGuard::NAME), "{err}");
        assert!(
            err.contains("estimated 1000 rows, over the limit of 999 rows"),
            "{err}"
        );
        assert_eq!(counter.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn plan_over_byte_budget_is_refused() {
        let (rule, _) = guard(ScanBudget {
            max_scan_rows: None,
            max_scan_bytes: Some(5_999),
        });
        let err = rule
            .optimize(two_scans(), &ConfigOptions::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("estimated 6000 bytes, over the limit of 5999 bytes"),
            "{err}"
        );
    }

    #[test]
    fn unlimited_budget_accepts_anything() {
        let (rule, _) = guard(ScanBudget::default());
        assert!(rule.optimize(two_scans(), &ConfigOptions::new()).is_ok());
    }
}
