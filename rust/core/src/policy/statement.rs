//! What a SQL request would do, read with DataFusion's own parser.
//!
//! The request is parsed by `datafusion-sql`'s `DFParser` with the dialect and
//! recursion limit the engine uses, so the policy sees exactly the statements
//! the engine will run. Each statement is reduced to [`Facts`]: the statement
//! classes involved (nested ones included: EXPLAIN's target, CTAS and view
//! queries, PREPARE bodies), the storage locations it names, the functions it
//! calls and the settings it changes. The checker judges the facts.

use std::collections::VecDeque;
use std::fmt;
use std::ops::ControlFlow;

use datafusion_common::DataFusionError;
use datafusion_sql::parser::{
    CopyToSource, DFParserBuilder, ExplainStatement, ResetStatement, Statement as DFStatement,
};
use datafusion_sql::sqlparser::ast::{
    CopyTarget, Expr, Ident, ObjectName, ObjectNamePart, Query, Set, Statement, TableFactor,
    TableObject, Visit, Visitor,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;

use super::row_write::{self, RowWrite};

/// The dialect DataFusion parses with by default (`datafusion.sql_parser.dialect
/// = generic`). The engine is configured with it explicitly and the policy
/// refuses SET of parser settings, so both always parse alike.
pub const SQL_DIALECT: &str = "generic";
/// DataFusion's default `datafusion.sql_parser.recursion_limit`.
pub const SQL_RECURSION_LIMIT: usize = 50;

/// Parses `sql` exactly as the engine's `SessionContext::sql` does.
pub fn parse(sql: &str) -> Result<VecDeque<DFStatement>, DataFusionError> {
    DFParserBuilder::new(sql)
        .with_dialect(&GenericDialect {})
        .with_recursion_limit(SQL_RECURSION_LIMIT)
        .build()?
        .parse_statements()
}

/// The kinds of statement a policy allows or denies as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatementClass {
    Query,
    Explain,
    Ddl,
    Dml,
    Copy,
    Session,
    /// Statements DataFusion does not run; never allowed.
    Unsupported,
}

impl StatementClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Explain => "explain",
            Self::Ddl => "ddl",
            Self::Dml => "dml",
            Self::Copy => "copy",
            Self::Session => "session",
            Self::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for StatementClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One statement found in the request, with the words that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementUse {
    pub class: StatementClass,
    pub kind: String,
}

/// A storage location a statement names, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationUse {
    pub location: String,
    pub context: &'static str,
}

/// Everything the policy judges about one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The statement itself first, then the statements nested in it.
    pub statements: Vec<StatementUse>,
    pub locations: Vec<LocationUse>,
    /// Called function names, last name part, lowercase.
    pub functions: Vec<String>,
    /// Settings changed by SET or RESET, lowercase dotted names.
    pub settings: Vec<String>,
}

impl Facts {
    /// The facts of one parsed statement.
    pub fn of(statement: &DFStatement) -> Self {
        let mut facts = Self::default();
        facts.add_df_statement(statement);
        facts
    }

    fn statement(&mut self, class: StatementClass, kind: impl Into<String>) {
        self.statements.push(StatementUse {
            class,
            kind: kind.into(),
        });
    }

    fn location(&mut self, location: &str, context: &'static str) {
        self.locations.push(LocationUse {
            location: location.to_owned(),
            context,
        });
    }

    fn function(&mut self, name: &ObjectName) {
        if let Some(last) = name.0.last() {
            let ident = match last {
                ObjectNamePart::Identifier(ident) => &ident.value,
                ObjectNamePart::Function(function) => &function.name.value,
            };
            self.functions.push(ident.to_lowercase());
        }
    }

    fn setting(&mut self, name: &ObjectName) {
        self.settings.push(dotted_lowercase(name));
    }

    /// Walks the sqlparser nodes inside `node` (nested statements, queries,
    /// expressions, table factors).
    fn walk<V: Visit>(&mut self, node: &V) {
        let _ = node.visit(&mut Collector { facts: self });
    }

    fn add_df_statement(&mut self, statement: &DFStatement) {
        match statement {
            DFStatement::Statement(statement) => self.walk(statement.as_ref()),
            DFStatement::CreateExternalTable(create) => {
                self.statement(StatementClass::Ddl, "CREATE EXTERNAL TABLE");
                for location in &create.locations {
                    self.location(location, "CREATE EXTERNAL TABLE ... LOCATION");
                }
                self.walk(&create.columns);
                self.walk(&create.order_exprs);
            }
            DFStatement::CopyTo(copy) => {
                self.statement(StatementClass::Copy, "COPY TO");
                self.location(&copy.target, "COPY ... TO");
                match &copy.source {
                    CopyToSource::Relation(name) => self.relation(name),
                    CopyToSource::Query(query) => self.walk(query.as_ref()),
                }
            }
            DFStatement::Explain(ExplainStatement { options, statement }) => {
                let kind = if options.analyze {
                    "EXPLAIN ANALYZE"
                } else {
                    "EXPLAIN"
                };
                self.statement(StatementClass::Explain, kind);
                self.add_df_statement(statement);
            }
            DFStatement::Reset(ResetStatement::Variable(name)) => {
                self.statement(StatementClass::Session, "RESET");
                self.setting(name);
            }
        }
    }

    /// A table reference. With DataFusion's URL tables (`enable_url_table`,
    /// off in this server) a name could be read as a file path, so a name
    /// that looks like a path or URL is judged as a location too.
    fn relation(&mut self, name: &ObjectName) {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && ident.value.contains(['/', '\\', ':'])
        {
            self.location(&ident.value, "table reference");
        }
    }

    fn add_sql_statement(&mut self, statement: &Statement) {
        use StatementClass::*;
        match statement {
            // Recorded by `Collector::pre_visit_query`, with every nested query.
            Statement::Query(_) => {}
            Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowFunctions { .. } => self.statement(Query, "SHOW"),
            Statement::ExplainTable { .. } => self.statement(Query, "DESCRIBE"),
            Statement::Explain {
                describe_alias,
                analyze,
                ..
            } => {
                use datafusion_sql::sqlparser::ast::DescribeAlias;
                match (describe_alias, analyze) {
                    (DescribeAlias::Explain, true) => self.statement(Explain, "EXPLAIN ANALYZE"),
                    (DescribeAlias::Explain, false) => self.statement(Explain, "EXPLAIN"),
                    _ => self.statement(Query, "DESCRIBE"),
                }
            }
            Statement::CreateTable(create) => {
                let kind = if create.query.is_some() {
                    "CREATE TABLE AS"
                } else {
                    "CREATE TABLE"
                };
                self.statement(Ddl, kind);
                if let Some(location) = &create.location {
                    self.location(location, "CREATE TABLE ... LOCATION");
                }
                if let Some(location) = create
                    .hive_formats
                    .as_ref()
                    .and_then(|h| h.location.as_ref())
                {
                    self.location(location, "CREATE TABLE ... LOCATION");
                }
            }
            Statement::CreateView(_) => self.statement(Ddl, "CREATE VIEW"),
            Statement::CreateSchema { .. } => self.statement(Ddl, "CREATE SCHEMA"),
            Statement::CreateDatabase { .. } => self.statement(Ddl, "CREATE DATABASE"),
            Statement::CreateFunction(_) => self.statement(Ddl, "CREATE FUNCTION"),
            Statement::CreateIndex(_) => self.statement(Ddl, "CREATE INDEX"),
            Statement::Drop { object_type, .. } => {
                self.statement(Ddl, format!("DROP {object_type}"));
            }
            Statement::DropFunction(_) => self.statement(Ddl, "DROP FUNCTION"),
            Statement::Insert(insert) => {
                self.statement(Dml, "INSERT");
                match &insert.table {
                    TableObject::TableName(name) => self.relation(name),
                    TableObject::TableFunction(function) => self.function(&function.name),
                    // Any other target form is not one DataFusion plans.
                    #[allow(unreachable_patterns)]
                    _ => self.statement(Unsupported, "INSERT INTO <non-table>"),
                }
            }
            Statement::Update(_) => self.statement(Dml, "UPDATE"),
            Statement::Delete(_) => self.statement(Dml, "DELETE"),
            Statement::Merge(_) => self.statement(Dml, "MERGE"),
            Statement::Truncate(_) => self.statement(Dml, "TRUNCATE"),
            Statement::Copy { target, .. } => {
                self.statement(Copy, "COPY");
                if let CopyTarget::File { filename } = target {
                    self.location(filename, "COPY ... FILE");
                }
            }
            Statement::Set(set) => {
                self.statement(Session, "SET");
                match set {
                    Set::SingleAssignment { variable, .. } => self.setting(variable),
                    // Forms DataFusion does not run; named so they are denied.
                    _ => self.settings.push(format!("<{}>", first_words(statement))),
                }
            }
            Statement::StartTransaction { .. } => self.statement(Session, "START TRANSACTION"),
            Statement::Commit { .. } => self.statement(Session, "COMMIT"),
            Statement::Rollback { .. } => self.statement(Session, "ROLLBACK"),
            Statement::Prepare { .. } => self.statement(Session, "PREPARE"),
            Statement::Execute { .. } => self.statement(Session, "EXECUTE"),
            Statement::Deallocate { .. } => self.statement(Session, "DEALLOCATE"),
            other => self.statement(Unsupported, first_words(other)),
        }
    }
}

/// Collects facts from every sqlparser node it is walked over.
struct Collector<'a> {
    facts: &'a mut Facts,
}

impl Visitor for Collector<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.facts.add_sql_statement(statement);
        ControlFlow::Continue(())
    }

    /// Any query, top-level or nested (CTAS, views, INSERT sources, COPY
    /// sources, subqueries), makes the statement need the query class.
    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        if !self
            .facts
            .statements
            .iter()
            .any(|used| used.class == StatementClass::Query)
        {
            self.facts.statement(StatementClass::Query, "SELECT");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.facts.function(name),
            TableFactor::Table {
                name, args: None, ..
            } => self.facts.relation(name),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            self.facts.function(&function.name);
        }
        ControlFlow::Continue(())
    }
}

fn dotted_lowercase(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            ObjectNamePart::Function(function) => function.name.value.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The leading keywords of a statement (sqlparser prints keywords in upper
/// case), to name kinds the policy does not know (for example `LOAD DATA`).
fn first_words(statement: &Statement) -> String {
    statement
        .to_string()
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kinds of statement that write rows somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// `INSERT INTO table [(columns)] query`
    Insert,
    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name AS query`
    CreateTableAs,
    /// `COPY relation|(query) TO 'location'`
    CopyTo,
    /// `DELETE FROM table [WHERE ...]`
    Delete,
    /// `UPDATE table SET ... [WHERE ...]`
    Update,
    /// `MERGE INTO table USING source ON ... WHEN ...`
    Merge,
}

impl WriteKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::CreateTableAs => "create_table_as",
            Self::CopyTo => "copy",
            Self::Delete => "delete",
            Self::Update => "update",
            Self::Merge => "merge",
        }
    }
}

/// Where a write statement writes, and the query whose rows it writes, so the
/// server can route a write (Delta tables commit through `deltalake`) without
/// parsing SQL itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteStatement {
    pub kind: WriteKind,
    /// The target table's name parts, normalized as the engine does (unquoted
    /// identifiers lowercase); for COPY, the one target location.
    pub target: Vec<String>,
    /// INSERT's column list (normalized); empty when the statement has none.
    pub columns: Vec<String>,
    /// The source query's SQL; for `COPY table TO`, that table's name.
    pub source: String,
    /// INSERT OVERWRITE or CREATE OR REPLACE.
    pub overwrite: bool,
    pub if_not_exists: bool,
    /// DELETE, UPDATE and MERGE: what they do to the target's rows.
    pub row: Option<RowWrite>,
}

impl WriteStatement {
    fn row_level(kind: WriteKind, target: Vec<String>, source: String, row: RowWrite) -> Self {
        Self {
            kind,
            target,
            columns: Vec::new(),
            source,
            overwrite: false,
            if_not_exists: false,
            row: Some(row),
        }
    }
}

/// The write `sql` does, if its one statement is an INSERT with a query
/// source, a CREATE TABLE AS, a COPY TO, a DELETE, an UPDATE or a MERGE;
/// `None` for anything else.
pub fn write_statement(sql: &str) -> Result<Option<WriteStatement>, DataFusionError> {
    let mut statements = parse(sql)?;
    if statements.len() != 1 {
        return Ok(None);
    }
    let Some(statement) = statements.pop_front() else {
        return Ok(None);
    };
    Ok(match statement {
        DFStatement::Statement(statement) => match *statement {
            Statement::Insert(insert) => match (&insert.table, &insert.source) {
                (TableObject::TableName(name), Some(source)) if insert.assignments.is_empty() => {
                    Some(WriteStatement {
                        kind: WriteKind::Insert,
                        target: normalized(name),
                        columns: insert
                            .columns
                            .iter()
                            .filter_map(|column| normalized(column).pop())
                            .collect(),
                        source: source.to_string(),
                        overwrite: insert.overwrite,
                        if_not_exists: false,
                        row: None,
                    })
                }
                _ => None,
            },
            Statement::CreateTable(create) if create.columns.is_empty() => {
                create.query.as_ref().map(|query| WriteStatement {
                    kind: WriteKind::CreateTableAs,
                    target: normalized(&create.name),
                    columns: Vec::new(),
                    source: query.to_string(),
                    overwrite: create.or_replace,
                    if_not_exists: create.if_not_exists,
                    row: None,
                })
            }
            Statement::Delete(delete) => {
                let (target, row) = row_write::delete(&delete);
                Some(WriteStatement::row_level(
                    WriteKind::Delete,
                    target,
                    String::new(),
                    row,
                ))
            }
            Statement::Update(update) => {
                let (target, row) = row_write::update(&update);
                Some(WriteStatement::row_level(
                    WriteKind::Update,
                    target,
                    String::new(),
                    row,
                ))
            }
            Statement::Merge(merge) => {
                let (target, source, row) = row_write::merge(&merge);
                Some(WriteStatement::row_level(
                    WriteKind::Merge,
                    target,
                    source,
                    row,
                ))
            }
            _ => None,
        },
        DFStatement::CopyTo(copy) => Some(WriteStatement {
            kind: WriteKind::CopyTo,
            target: vec![copy.target.clone()],
            columns: Vec::new(),
            source: match &copy.source {
                CopyToSource::Relation(name) => name.to_string(),
                CopyToSource::Query(query) => query.to_string(),
            },
            overwrite: false,
            if_not_exists: false,
            row: None,
        }),
        _ => None,
    })
}

/// Name parts as the engine resolves them: unquoted identifiers in lowercase.
pub(crate) fn normalized(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => normalized_ident(ident),
            ObjectNamePart::Function(function) => normalized_ident(&function.name),
        })
        .collect()
}

pub(crate) fn normalized_ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementClass::*;

    fn facts(sql: &str) -> Facts {
        let statements = parse(sql).unwrap();
        assert_eq!(statements.len(), 1, "{sql}");
        Facts::of(&statements[0])
    }

    fn classes(sql: &str) -> Vec<StatementClass> {
        facts(sql).statements.iter().map(|s| s.class).collect()
    }

    #[test]
    fn statement_classes() {
        let cases: &[(&str, &[StatementClass])] = &[
            ("SELECT 1", &[Query]),
            ("select * from t -- comment", &[Query]),
            ("/* c */ SeLeCt 1", &[Query]),
            ("VALUES (1)", &[Query]),
            ("WITH a AS (SELECT 1) SELECT * FROM a", &[Query]),
            ("SHOW TABLES", &[Query]),
            ("SHOW COLUMNS FROM t", &[Query]),
            ("SHOW datafusion.execution.batch_size", &[Query]),
            ("DESCRIBE t", &[Query]),
            ("EXPLAIN SELECT 1", &[Explain, Query]),
            ("EXPLAIN ANALYZE SELECT 1", &[Explain, Query]),
            ("EXPLAIN VERBOSE SELECT 1", &[Explain, Query]),
            ("EXPLAIN FORMAT tree SELECT 1", &[Explain, Query]),
            ("EXPLAIN COPY t TO '/x'", &[Explain, Copy]),
            (
                "EXPLAIN EXPLAIN CREATE VIEW v AS SELECT 1",
                &[Explain, Explain, Ddl, Query],
            ),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/x'",
                &[Ddl],
            ),
            (
                "create external table t stored as csv location '/x'",
                &[Ddl],
            ),
            ("CREATE TABLE t (a INT)", &[Ddl]),
            ("CREATE TABLE t AS SELECT 1", &[Ddl, Query]),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", &[Ddl, Query]),
            ("CREATE SCHEMA s", &[Ddl]),
            ("CREATE DATABASE d", &[Ddl]),
            ("DROP TABLE t", &[Ddl]),
            ("DROP VIEW v", &[Ddl]),
            ("INSERT INTO t VALUES (1)", &[Dml, Query]),
            ("INSERT INTO t SELECT * FROM u", &[Dml, Query]),
            ("UPDATE t SET a = 1", &[Dml]),
            ("DELETE FROM t", &[Dml]),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                &[Dml],
            ),
            (
                "MERGE INTO t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
                &[Dml, Query],
            ),
            ("TRUNCATE TABLE t", &[Dml]),
            ("COPY t TO '/x.parquet'", &[Copy]),
            (
                "COPY (SELECT 1) TO '/x.parquet' STORED AS PARQUET",
                &[Copy, Query],
            ),
            ("SET datafusion.execution.batch_size = 10", &[Session]),
            ("RESET datafusion.execution.batch_size", &[Session]),
            ("BEGIN", &[Session]),
            ("COMMIT", &[Session]),
            ("PREPARE p AS SELECT 1", &[Session, Query]),
            (
                "PREPARE p AS INSERT INTO t VALUES (1)",
                &[Session, Dml, Query],
            ),
            ("EXECUTE p", &[Session]),
            ("DEALLOCATE p", &[Session]),
            ("USE db", &[Unsupported]),
            ("GRANT SELECT ON t TO r", &[Unsupported]),
        ];
        for (sql, expected) in cases {
            assert_eq!(classes(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn subqueries_do_not_add_statements() {
        assert_eq!(
            classes("SELECT (SELECT 1), * FROM (SELECT 2) s WHERE 1 IN (SELECT 3)"),
            vec![Query]
        );
    }

    #[test]
    fn locations_are_collected_with_their_context() {
        let located = |sql: &str| -> Vec<(String, &'static str)> {
            facts(sql)
                .locations
                .into_iter()
                .map(|l| (l.location, l.context))
                .collect()
        };
        assert_eq!(
            located("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION ('/a', 'file:///b')"),
            vec![
                ("/a".into(), "CREATE EXTERNAL TABLE ... LOCATION"),
                ("file:///b".into(), "CREATE EXTERNAL TABLE ... LOCATION"),
            ]
        );
        assert_eq!(
            located("COPY (SELECT 1) TO '/etc/x.parquet'"),
            vec![("/etc/x.parquet".into(), "COPY ... TO")]
        );
        assert_eq!(
            located(r#"CREATE VIEW v AS SELECT * FROM "/etc/passwd""#),
            vec![("/etc/passwd".into(), "table reference")]
        );
        assert_eq!(
            located("CREATE TABLE t AS SELECT * FROM 'file:///etc/x.csv'"),
            vec![("file:///etc/x.csv".into(), "table reference")]
        );
        assert_eq!(
            located(r#"EXPLAIN ANALYZE COPY "/etc/x" TO 'y'"#),
            vec![
                ("y".into(), "COPY ... TO"),
                ("/etc/x".into(), "table reference")
            ]
        );
        assert!(located("SELECT * FROM nation").is_empty());
        assert!(located("SELECT * FROM public.nation").is_empty());
    }

    #[test]
    fn functions_are_collected_everywhere() {
        let f = facts(
            "SELECT upper(a), datafusion.public.Lower(b), count(*) OVER () \
             FROM generate_series(1, 3) g WHERE exists (SELECT \"Abs\"(1)) \
             ORDER BY RANDOM()",
        );
        let mut functions = f.functions;
        functions.sort();
        assert_eq!(
            functions,
            vec![
                "abs",
                "count",
                "generate_series",
                "lower",
                "random",
                "upper"
            ]
        );
        assert_eq!(
            facts("CREATE VIEW v AS SELECT now()").functions,
            vec!["now"]
        );
        assert_eq!(facts("COPY (SELECT now()) TO 'x'").functions, vec!["now"]);
    }

    #[test]
    fn settings_are_named_lowercase() {
        assert_eq!(
            facts("SET DataFusion.SQL_Parser.Dialect = 'mysql'").settings,
            vec!["datafusion.sql_parser.dialect"]
        );
        assert_eq!(
            facts(r#"SET "datafusion.runtime.temp_directory" = '/etc'"#).settings,
            vec!["datafusion.runtime.temp_directory"]
        );
        assert_eq!(
            facts("RESET datafusion.catalog.information_schema").settings,
            vec!["datafusion.catalog.information_schema"]
        );
    }

    #[test]
    fn several_statements_parse_as_several() {
        assert_eq!(parse("SELECT 1; SELECT 2").unwrap().len(), 2);
        assert_eq!(parse("SELECT 1;").unwrap().len(), 1);
        assert_eq!(parse(";;").unwrap().len(), 0);
    }

    #[test]
    fn syntax_errors_are_parse_errors() {
        assert!(parse("SELEC 1").is_err());
        assert!(parse("CREATE EXTERNAL TABLE t LOCATION").is_err());
    }

    #[test]
    fn write_statements_name_target_and_source() {
        let insert = write_statement(
            r#"INSERT INTO Sales."Orders" (Id, "Qty") SELECT a, b FROM t WHERE a > $1"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(insert.kind, WriteKind::Insert);
        assert_eq!(insert.target, vec!["sales", "Orders"]);
        assert_eq!(insert.columns, vec!["id", "Qty"]);
        assert_eq!(insert.source, "SELECT a, b FROM t WHERE a > $1");
        assert!(!insert.overwrite);

        let values = write_statement("insert into t values (1, 'x'), (2, 'y')")
            .unwrap()
            .unwrap();
        assert_eq!(values.source, "VALUES (1, 'x'), (2, 'y')");

        let ctas = write_statement("CREATE OR REPLACE TABLE c.s.t AS SELECT 1 AS one")
            .unwrap()
            .unwrap();
        assert_eq!(ctas.kind, WriteKind::CreateTableAs);
        assert_eq!(ctas.target, vec!["c", "s", "t"]);
        assert_eq!(ctas.source, "SELECT 1 AS one");
        assert!(ctas.overwrite);
        let guarded = write_statement("CREATE TABLE IF NOT EXISTS t AS VALUES (1)")
            .unwrap()
            .unwrap();
        assert!(guarded.if_not_exists);

        let copy = write_statement("COPY (SELECT 1) TO '/tmp/out' STORED AS PARQUET")
            .unwrap()
            .unwrap();
        assert_eq!(copy.kind, WriteKind::CopyTo);
        assert_eq!(copy.target, vec!["/tmp/out"]);
        assert_eq!(copy.source, "SELECT 1");
    }

    #[test]
    fn other_statements_are_not_writes() {
        for sql in [
            "SELECT 1",
            "CREATE TABLE t (a INT)",
            "CREATE VIEW v AS SELECT 1",
            "SELECT 1; SELECT 2",
            "EXPLAIN INSERT INTO t VALUES (1)",
        ] {
            assert_eq!(write_statement(sql).unwrap(), None, "{sql}");
        }
        assert!(write_statement("INSERT INTO").is_err());
    }
}
