//! The statement checker on many SQL strings, against a scratch directory
//! tree with an allowed root, a state directory and a symlink out of the root.

use std::path::PathBuf;

use super::*;

struct Scratch {
    base: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let base =
            std::env::temp_dir().join(format!("flightserver-policy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for dir in ["catalog/data", "state", "secret"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink(base.join("secret"), base.join("state/link")).unwrap();
        Self {
            base: base.canonicalize().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> String {
        self.base.join(rel).display().to_string()
    }

    fn policy(&self, config: PolicyConfig) -> Policy {
        Policy::new(config, vec![self.path("catalog"), self.path("state")])
    }

    /// Checks `sql` with relative locations read from the scratch base.
    fn check(&self, policy: &Policy, sql: &str) -> Result<(), CheckError> {
        let statements = parse(sql).map_err(CheckError::Syntax)?;
        for statement in &statements {
            policy.check_facts(&Facts::of(statement), &self.base)?;
        }
        if statements.len() > 1 {
            // Same rule as `check_sql`, which reads the process's directory.
            return policy.check_sql(sql);
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn everything() -> PolicyConfig {
    PolicyConfig {
        allow_ddl: true,
        allow_dml: true,
        allow_copy: true,
        allow_session: true,
        ..PolicyConfig::read_only()
    }
}

fn denied_by(result: Result<(), CheckError>) -> PolicyViolation {
    match result {
        Err(CheckError::Denied(violation)) => violation,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn read_only_allows_queries_and_explain() {
    let s = Scratch::new("read-only-ok");
    let policy = s.policy(PolicyConfig::read_only());
    for sql in [
        "SELECT 1",
        "select * from nation where n_name like 'A%' -- trailing comment",
        "/* leading */ SeLeCt count(*) FROM nation",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "EXPLAIN VERBOSE SELECT * FROM nation",
        "SHOW TABLES",
        "DESCRIBE nation",
        "SELECT 1;",
    ] {
        s.check(&policy, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn read_only_denies_every_other_class_and_names_it() {
    let s = Scratch::new("read-only-denied");
    let policy = s.policy(PolicyConfig::read_only());
    let cases = [
        (
            "CREATE VIEW v AS SELECT 1",
            "CREATE VIEW is a statement of class ddl",
        ),
        (
            "cReAtE eXtErNaL tAbLe t STORED AS CSV LOCATION 'x'",
            "CREATE EXTERNAL TABLE is a statement of class ddl",
        ),
        (
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE AS is a statement of class ddl",
        ),
        (
            "DROP TABLE nation",
            "DROP TABLE is a statement of class ddl",
        ),
        (
            "INSERT INTO nation SELECT * FROM nation",
            "INSERT is a statement of class dml",
        ),
        ("DELETE FROM nation", "DELETE is a statement of class dml"),
        (
            "COPY nation TO 'x.parquet'",
            "COPY TO is a statement of class copy",
        ),
        (
            "SET datafusion.execution.batch_size = 1",
            "SET is a statement of class session",
        ),
        ("BEGIN", "START TRANSACTION is a statement of class session"),
        (
            "PREPARE p AS SELECT 1",
            "PREPARE is a statement of class session",
        ),
        (
            "EXPLAIN ANALYZE COPY nation TO 'x.parquet'",
            "COPY TO is a statement of class copy",
        ),
        (
            "EXPLAIN CREATE VIEW v AS SELECT 1",
            "CREATE VIEW is a statement of class ddl",
        ),
        ("USE db", "USE is a statement of class unsupported"),
    ];
    for (sql, expected) in cases {
        let violation = denied_by(s.check(&policy, sql));
        assert_eq!(violation.rule, RULE_STATEMENT_CLASS, "{sql}");
        assert!(violation.message.contains(expected), "{sql}: {violation}");
        assert!(
            violation.message.contains("(allowed: query, explain)"),
            "{violation}"
        );
        assert!(violation.to_string().starts_with(POLICY_ERROR_PREFIX));
    }
}

#[test]
fn explain_itself_can_be_denied() {
    let s = Scratch::new("no-explain");
    let policy = s.policy(PolicyConfig {
        allow_explain: false,
        ..PolicyConfig::read_only()
    });
    let violation = denied_by(s.check(&policy, "EXPLAIN SELECT 1"));
    assert!(
        violation
            .message
            .contains("EXPLAIN is a statement of class explain")
    );
    s.check(&policy, "SELECT 1").unwrap();
}

#[test]
fn several_statements_are_refused_even_when_each_is_allowed() {
    let s = Scratch::new("several");
    let policy = s.policy(PolicyConfig::read_only());
    let violation = denied_by(s.check(&policy, "SELECT 1; SELECT 2"));
    assert_eq!(violation.rule, RULE_SINGLE_STATEMENT);
    assert!(
        violation.message.contains("holds 2 statements"),
        "{violation}"
    );
    // A forbidden statement anywhere is named for what it is.
    let violation = denied_by(s.check(&policy, "SELECT 1; DROP TABLE nation"));
    assert_eq!(violation.rule, RULE_STATEMENT_CLASS);
    assert!(violation.message.contains("DROP TABLE"), "{violation}");
}

#[test]
fn syntax_errors_are_not_denials() {
    let s = Scratch::new("syntax");
    let policy = s.policy(PolicyConfig::read_only());
    assert!(matches!(
        s.check(&policy, "SELEC 1"),
        Err(CheckError::Syntax(_))
    ));
    assert!(matches!(
        s.check(&policy, "SELECT 'unterminated"),
        Err(CheckError::Syntax(_))
    ));
}

#[test]
fn locations_inside_the_default_roots_are_allowed() {
    let s = Scratch::new("roots-ok");
    let policy = s.policy(everything());
    let state = s.path("state");
    let catalog = s.path("catalog");
    for sql in [
        format!("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{catalog}/data/'"),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file://{catalog}/data/x.csv'"),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'file:{catalog}/data/x.csv'"),
        format!("COPY (SELECT 1) TO '{state}/out.parquet'"),
        format!("COPY (SELECT 1) TO '{state}/new/dir/out.parquet'"),
        format!("COPY (SELECT 1) TO 'file://localhost{state}/out.csv'"),
        format!("COPY (SELECT 1) TO '{state}/sub/../out.parquet'"),
        "COPY (SELECT 1) TO 'state/out.parquet'".to_owned(),
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION './catalog/data/x.csv'".to_owned(),
        format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{state}/x.parquet'"),
    ] {
        s.check(&policy, &sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn locations_outside_the_roots_are_denied_in_every_spelling() {
    let s = Scratch::new("roots-denied");
    let policy = s.policy(everything());
    let state = s.path("state");
    let secret = s.path("secret");
    let cases = [
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc'".to_owned(),
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
        "COPY (SELECT 1) TO '/etc/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'file:///etc/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'file:/etc/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'FILE://localhost/etc/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'file://remote/etc/x.parquet'".to_owned(),
        format!("COPY (SELECT 1) TO '{state}/../secret/x.parquet'"),
        format!("COPY (SELECT 1) TO '{state}/%2e%2e/secret/x.parquet'"),
        format!("COPY (SELECT 1) TO 'file://{state}/%2E%2E/secret/x.parquet'"),
        format!("COPY (SELECT 1) TO 'file://{state}/%252e%252e/secret/x.parquet'"),
        format!("COPY (SELECT 1) TO '{state}/link/x.parquet'"),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{state}/link/'"),
        format!(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION ('{state}/a.csv', '{secret}/b.csv')"
        ),
        "COPY (SELECT 1) TO 'state/../secret/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO '../x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 's3://bucket/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'http://example.com/x'".to_owned(),
        format!("COPY (SELECT 1) TO '{state}x/out.parquet'"),
        format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{secret}/x.parquet'"),
        format!("EXPLAIN COPY (SELECT 1) TO '{secret}/x.parquet'"),
        format!(r#"CREATE VIEW v AS SELECT * FROM "{secret}/x.parquet""#),
        format!("CREATE TABLE t AS SELECT * FROM 'file://{secret}/x.parquet'"),
        format!(r#"INSERT INTO "{secret}/x.csv" VALUES (1)"#),
        format!(r#"COPY "{secret}/x.csv" TO '{state}/y.csv'"#),
        format!(r#"SELECT * FROM (SELECT * FROM "{secret}/x.csv")"#),
    ];
    for sql in cases {
        let violation = denied_by(s.check(&policy, &sql));
        assert_eq!(violation.rule, RULE_LOCATION, "{sql}: {violation}");
    }
}

#[test]
fn location_denials_name_the_location_and_where_it_leads() {
    let s = Scratch::new("location-message");
    let policy = s.policy(everything());
    let state = s.path("state");
    let violation = denied_by(s.check(
        &policy,
        &format!("COPY (SELECT 1) TO '{state}/../secret/x.parquet'"),
    ));
    assert_eq!(
        violation.message,
        format!(
            "COPY ... TO '{state}/../secret/x.parquet' resolves to {}, which is outside the allowed \
             locations; policy.allowed_locations (TOML) opens it",
            s.path("secret/x.parquet")
        )
    );
    let violation = denied_by(s.check(&policy, "COPY (SELECT 1) TO 'file://remote/x'"));
    assert!(
        violation.message.contains("names a remote host"),
        "{violation}"
    );
}

#[test]
fn more_locations_and_schemes_can_be_allowed() {
    let s = Scratch::new("more");
    let policy = s.policy(PolicyConfig {
        allowed_locations: vec![s.path("secret"), "s3://bucket/data".into()],
        allowed_schemes: vec!["gs".into()],
        ..everything()
    });
    for sql in [
        format!("COPY (SELECT 1) TO '{}/x.parquet'", s.path("secret")),
        format!("COPY (SELECT 1) TO '{}/link/x.parquet'", s.path("state")),
        "COPY (SELECT 1) TO 's3://bucket/data/x.parquet'".to_owned(),
        "COPY (SELECT 1) TO 'gs://anything/x.parquet'".to_owned(),
    ] {
        s.check(&policy, &sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let violation = denied_by(s.check(&policy, "COPY (SELECT 1) TO 's3://bucket/other/x'"));
    assert_eq!(violation.rule, RULE_LOCATION);
}

#[test]
fn denied_functions_are_refused_wherever_they_are_called() {
    let s = Scratch::new("functions");
    let policy = s.policy(PolicyConfig {
        denied_functions: vec!["generate_series".into(), "Random".into()],
        ..everything()
    });
    for sql in [
        "SELECT * FROM generate_series(1, 3)",
        "SELECT * FROM GENERATE_SERIES(1, 3)",
        r#"SELECT * FROM "generate_series"(1, 3)"#,
        "SELECT random()",
        "SELECT 1 WHERE 0.5 < RANDOM()",
        "SELECT (SELECT random())",
        "CREATE VIEW v AS SELECT random()",
        "CREATE TABLE t AS SELECT * FROM generate_series(1, 3)",
        "EXPLAIN ANALYZE SELECT random()",
        "COPY (SELECT random()) TO 'state/x.csv'",
        "INSERT INTO t SELECT random()",
        "SELECT datafusion.public.random()",
    ] {
        let violation = denied_by(s.check(&policy, sql));
        assert_eq!(violation.rule, RULE_FUNCTION, "{sql}: {violation}");
        assert!(violation.message.starts_with("function "), "{violation}");
    }
    s.check(&policy, "SELECT abs(-1), now()").unwrap();
}

#[test]
fn protected_settings_are_refused_even_where_set_is_allowed() {
    let s = Scratch::new("settings");
    let policy = s.policy(everything());
    for sql in [
        "SET datafusion.sql_parser.dialect = 'mysql'",
        "set DATAFUSION.SQL_PARSER.DIALECT = 'mysql'",
        r#"SET "datafusion.sql_parser.dialect" = 'mysql'"#,
        "SET datafusion.runtime.temp_directory = '/etc'",
        "SET datafusion.catalog.information_schema = false",
        "SET datafusion.execution.collect_statistics = false",
        "RESET datafusion.sql_parser.recursion_limit",
        "SET TIME ZONE 'UTC'",
    ] {
        let violation = denied_by(s.check(&policy, sql));
        assert_eq!(violation.rule, RULE_SETTING, "{sql}: {violation}");
    }
    s.check(&policy, "SET datafusion.execution.batch_size = 1024")
        .unwrap();
    s.check(&policy, "SET datafusion.execution.time_zone = 'UTC'")
        .unwrap();
}

#[test]
fn from_json_reads_the_server_struct() {
    let json = serde_json::to_string(&PolicyConfig {
        max_result_rows: Some(7),
        ..everything()
    })
    .unwrap();
    let policy = Policy::from_json(&json, vec![]).unwrap();
    assert_eq!(policy.config().max_result_rows, Some(7));
    assert!(Policy::from_json("{}", vec![]).is_err());
}
