//! The SQL policy: what a caller may do, decided here and nowhere else.
//!
//! Two lines of enforcement share one [`PolicyConfig`]:
//! - [`Policy::check_sql`] reads every request with DataFusion's own parser
//!   before the engine sees it. It is the only check DDL meets, since DDL runs
//!   inside `SessionContext::sql` without reaching the physical planner.
//! - physical optimizer rules ([`sink_guard`], [`result_rows`], and the scan
//!   budget) check the plans the engine actually runs: defense in depth.

pub mod config;
pub mod location;
pub mod result_rows;
pub mod row_write;
pub mod sink_guard;
pub mod statement;

use std::fmt;
use std::path::{Path, PathBuf};

use datafusion_common::DataFusionError;

pub use config::PolicyConfig;
use location::{AllowedLocations, resolve};
use statement::{Facts, LocationUse, StatementClass, parse};

use crate::POLICY_ERROR_PREFIX;

/// Rule names, as they appear in denial messages.
pub const RULE_STATEMENT_CLASS: &str = "flightserver.policy.statement_class";
pub const RULE_SINGLE_STATEMENT: &str = "flightserver.policy.single_statement";
pub const RULE_LOCATION: &str = "flightserver.policy.location";
pub const RULE_FUNCTION: &str = "flightserver.policy.function";
pub const RULE_SETTING: &str = "flightserver.policy.setting";

/// Settings no request may change, even where SET is allowed: the SQL parser
/// settings (the policy must parse as the engine does), the runtime (spill
/// directory, memory limit), the catalog, and statistics collection (the scan
/// budget reads statistics).
const PROTECTED_SETTINGS: &[&str] = &[
    "datafusion.sql_parser.",
    "datafusion.runtime.",
    "datafusion.catalog.",
    "datafusion.execution.collect_statistics",
];

/// A request the policy refuses: which rule, and what in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    pub rule: &'static str,
    pub message: String,
}

impl PolicyViolation {
    pub fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{POLICY_ERROR_PREFIX} rule {}: {}",
            self.rule, self.message
        )
    }
}

impl std::error::Error for PolicyViolation {}

/// Why [`Policy::check_sql`] refused a request.
#[derive(Debug)]
pub enum CheckError {
    /// The request is not SQL DataFusion can parse (the engine would refuse it too).
    Syntax(DataFusionError),
    /// The request parses, and the policy denies it.
    Denied(PolicyViolation),
}

impl From<PolicyViolation> for CheckError {
    fn from(violation: PolicyViolation) -> Self {
        Self::Denied(violation)
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(error) => write!(f, "{error}"),
            Self::Denied(violation) => write!(f, "{violation}"),
        }
    }
}

/// The switches of DataFusion's `SQLOptions`, the engine's own second line
/// behind the statement checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlOptionFlags {
    pub allow_ddl: bool,
    /// DataFusion counts COPY as DML.
    pub allow_dml: bool,
    /// SET, transactions, PREPARE / EXECUTE / DEALLOCATE.
    pub allow_statements: bool,
}

/// A configured policy: the configuration plus the directories that are
/// always allowed (the catalog's and the server state's).
#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    locations: AllowedLocations,
}

impl Policy {
    pub fn new(config: PolicyConfig, default_roots: Vec<String>) -> Self {
        let roots = default_roots
            .into_iter()
            .chain(config.allowed_locations.iter().cloned())
            .collect();
        let locations = AllowedLocations::new(roots, config.allowed_schemes.clone());
        Self { config, locations }
    }

    /// Decodes the JSON of the server's `PolicyConfig` Struct.
    pub fn from_json(json: &str, default_roots: Vec<String>) -> serde_json::Result<Self> {
        Ok(Self::new(serde_json::from_str(json)?, default_roots))
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    pub fn sql_options(&self) -> SqlOptionFlags {
        SqlOptionFlags {
            allow_ddl: self.config.allow_ddl,
            allow_dml: self.config.allows_writes(),
            allow_statements: self.config.allow_session,
        }
    }

    pub fn allows_class(&self, class: StatementClass) -> bool {
        let c = &self.config;
        match class {
            StatementClass::Query => c.allow_query,
            StatementClass::Explain => c.allow_explain,
            StatementClass::Ddl => c.allow_ddl,
            StatementClass::Dml => c.allow_dml,
            StatementClass::Copy => c.allow_copy,
            StatementClass::Session => c.allow_session,
            StatementClass::Unsupported => false,
        }
    }

    /// Checks one request (the text a client sent) before the engine runs it.
    pub fn check_sql(&self, sql: &str) -> Result<(), CheckError> {
        let statements = parse(sql).map_err(CheckError::Syntax)?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        for statement in &statements {
            self.check_facts(&Facts::of(statement), &cwd)?;
        }
        if statements.len() > 1 {
            return Err(PolicyViolation::new(
                RULE_SINGLE_STATEMENT,
                format!(
                    "the request holds {} statements; send one statement per request",
                    statements.len()
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Judges the facts of one statement; relative locations are read from `cwd`.
    pub fn check_facts(&self, facts: &Facts, cwd: &Path) -> Result<(), PolicyViolation> {
        for used in &facts.statements {
            if !self.allows_class(used.class) {
                return Err(PolicyViolation::new(
                    RULE_STATEMENT_CLASS,
                    format!(
                        "{} is a statement of class {}, which is not allowed (allowed: {}); {}",
                        used.kind,
                        used.class,
                        self.allowed_class_names(),
                        opening_option(used.class)
                    ),
                ));
            }
        }
        for setting in &facts.settings {
            if is_protected(setting) {
                return Err(PolicyViolation::new(
                    RULE_SETTING,
                    format!("setting {setting} may not be changed by a request"),
                ));
            }
        }
        for function in &facts.functions {
            if self
                .config
                .denied_functions
                .iter()
                .any(|denied| denied.eq_ignore_ascii_case(function))
            {
                return Err(PolicyViolation::new(
                    RULE_FUNCTION,
                    format!("function {function} is denied"),
                ));
            }
        }
        for used in &facts.locations {
            self.check_location(used, cwd)?;
        }
        Ok(())
    }

    fn check_location(&self, used: &LocationUse, cwd: &Path) -> Result<(), PolicyViolation> {
        let LocationUse { location, context } = used;
        let readings = resolve(location, cwd).map_err(|unreadable| {
            PolicyViolation::new(
                RULE_LOCATION,
                format!("{context} '{location}' is denied: {}", unreadable.0),
            )
        })?;
        match readings
            .iter()
            .find(|reading| !self.locations.allows(reading, cwd))
        {
            Some(outside) => Err(PolicyViolation::new(
                RULE_LOCATION,
                format!(
                    "{context} '{location}' resolves to {outside}, which is outside the allowed \
                     locations; policy.allowed_locations (TOML) opens it"
                ),
            )),
            None => Ok(()),
        }
    }

    fn allowed_class_names(&self) -> String {
        let allowed: Vec<&str> = [
            StatementClass::Query,
            StatementClass::Explain,
            StatementClass::Ddl,
            StatementClass::Dml,
            StatementClass::Copy,
            StatementClass::Session,
        ]
        .into_iter()
        .filter(|class| self.allows_class(*class))
        .map(StatementClass::name)
        .collect();
        if allowed.is_empty() {
            "none".into()
        } else {
            allowed.join(", ")
        }
    }
}

fn is_protected(setting: &str) -> bool {
    // Forms of SET DataFusion does not run are recorded as `<...>`.
    setting.starts_with('<')
        || PROTECTED_SETTINGS
            .iter()
            .any(|protected| setting.starts_with(protected))
}

/// What a refusal of `class` tells the operator to change.
fn opening_option(class: StatementClass) -> String {
    match class {
        StatementClass::Unsupported => "no option opens it".to_string(),
        class => format!("policy.allow_{class} = true opens it"),
    }
}

#[cfg(test)]
mod tests;
