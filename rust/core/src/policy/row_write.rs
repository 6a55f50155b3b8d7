//! Row-level writes (DELETE, UPDATE, MERGE INTO) described for the server,
//! which commits them through `deltalake`: the target, the predicate and the
//! SET expressions as SQL text (evaluated by `deltalake`), and MERGE's source
//! as a query the server runs itself (so the policy and scan budget apply).
//!
//! Forms this description cannot carry faithfully (UPDATE ... FROM, RETURNING,
//! subqueries in predicates, ...) are named in `refused` rather than guessed at.

use std::ops::ControlFlow;

use datafusion_common::DataFusionError;
use datafusion_sql::sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Ident, Merge, MergeAction,
    MergeClauseKind, MergeInsertKind, ObjectName, Query, TableFactor, TableWithJoins,
    UnaryOperator, Update, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::parser::Parser;

use super::statement::{normalized, normalized_ident};

/// What happens to the rows one MERGE clause selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeActionKind {
    Update,
    Delete,
    Insert,
}

impl MergeActionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Insert => "insert",
        }
    }
}

/// Which rows a MERGE clause applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMatch {
    Matched,
    NotMatched,
    NotMatchedBySource,
}

impl MergeMatch {
    pub fn name(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::NotMatched => "not_matched",
            Self::NotMatchedBySource => "not_matched_by_source",
        }
    }
}

/// One `WHEN ... THEN ...` clause of a MERGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeClauseSpec {
    pub matched: MergeMatch,
    pub action: MergeActionKind,
    /// The clause's `AND` condition, as SQL.
    pub predicate: Option<String>,
    /// UPDATE: column = expression; INSERT: column = value. An INSERT without
    /// a column list has empty column names: the values go by position.
    pub assignments: Vec<(String, String)>,
}

/// A DELETE, UPDATE or MERGE, as the server runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowWrite {
    /// The name the predicates use for the target (its alias, else its last name part).
    pub target_alias: String,
    /// DELETE/UPDATE: the WHERE condition; MERGE: the ON condition.
    pub predicate: Option<String>,
    /// UPDATE: column = expression.
    pub assignments: Vec<(String, String)>,
    /// MERGE: the name the source's columns are qualified with.
    pub source_alias: Option<String>,
    pub clauses: Vec<MergeClauseSpec>,
    /// A form the server does not run, named for the error message.
    pub refused: Option<String>,
}

impl RowWrite {
    fn refuse(mut self, form: &str) -> Self {
        if self.refused.is_none() {
            self.refused = Some(form.to_owned());
        }
        self
    }
}

/// DELETE: (target name parts, description).
pub fn delete(delete: &Delete) -> (Vec<String>, RowWrite) {
    let tables = match &delete.from {
        FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables) => tables,
    };
    let (target, alias, mut write) = single_table(tables);
    write.predicate = delete
        .selection
        .as_ref()
        .map(|expr| unqualified(expr, &alias));
    if !delete.tables.is_empty() {
        write = write.refuse("DELETE of several tables");
    }
    if delete.using.is_some() {
        write = write.refuse("DELETE ... USING (use MERGE ... WHEN MATCHED THEN DELETE)");
    }
    if delete.returning.is_some() || delete.output.is_some() {
        write = write.refuse("DELETE ... RETURNING");
    }
    if !delete.order_by.is_empty() || delete.limit.is_some() {
        write = write.refuse("DELETE ... ORDER BY/LIMIT");
    }
    if has_subquery(&delete.selection) {
        write = write.refuse("a subquery in DELETE's WHERE (use MERGE)");
    }
    (target, write)
}

/// UPDATE: (target name parts, description).
pub fn update(update: &Update) -> (Vec<String>, RowWrite) {
    let (target, alias, mut write) = single_table(std::slice::from_ref(&update.table));
    write.predicate = update
        .selection
        .as_ref()
        .map(|expr| unqualified(expr, &alias));
    let (assignments, refused) = assignments(&update.assignments, Some(&alias));
    write.assignments = assignments;
    if let Some(refused) = refused {
        write = write.refuse(&refused);
    }
    if update.from.is_some() {
        write = write.refuse("UPDATE ... FROM (use MERGE ... WHEN MATCHED THEN UPDATE)");
    }
    if update.returning.is_some() || update.output.is_some() {
        write = write.refuse("UPDATE ... RETURNING");
    }
    if update.or.is_some() || !update.order_by.is_empty() || update.limit.is_some() {
        write = write.refuse("UPDATE OR/ORDER BY/LIMIT");
    }
    let values: Vec<Expr> = update.assignments.iter().map(|a| a.value.clone()).collect();
    if has_subquery(&update.selection) || has_subquery(&values) {
        write = write.refuse("a subquery in UPDATE (use MERGE)");
    }
    (target, write)
}

/// MERGE: (target name parts, source query, description).
pub fn merge(merge: &Merge) -> (Vec<String>, String, RowWrite) {
    let mut write = RowWrite::default();
    let target = match &merge.table {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            write.target_alias = alias_or_last(alias.as_ref().map(|a| &a.name), name);
            normalized(name)
        }
        _ => {
            write = write.refuse("MERGE INTO something other than a table");
            Vec::new()
        }
    };
    let source = match &merge.source {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            write.source_alias = Some(alias_or_last(alias.as_ref().map(|a| &a.name), name));
            format!("SELECT * FROM {name}")
        }
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            match alias {
                Some(alias) => write.source_alias = Some(normalized_ident(&alias.name)),
                None => write = write.refuse("a MERGE source subquery without an alias"),
            }
            subquery.to_string()
        }
        _ => {
            write = write.refuse("a MERGE source that is not a table or a subquery");
            String::new()
        }
    };
    write.predicate = Some(merge.on.to_string());
    let mut subqueries = has_subquery(&merge.on);
    for clause in &merge.clauses {
        let matched = match clause.clause_kind {
            MergeClauseKind::Matched => MergeMatch::Matched,
            MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => {
                MergeMatch::NotMatched
            }
            MergeClauseKind::NotMatchedBySource => MergeMatch::NotMatchedBySource,
        };
        subqueries |= has_subquery(&clause.predicate);
        let mut spec = MergeClauseSpec {
            matched,
            action: MergeActionKind::Delete,
            predicate: clause.predicate.as_ref().map(ToString::to_string),
            assignments: Vec::new(),
        };
        match &clause.action {
            MergeAction::Delete { .. } => {}
            MergeAction::Update(update) => {
                spec.action = MergeActionKind::Update;
                let (assignments, refused) = self::assignments(&update.assignments, None);
                spec.assignments = assignments;
                if let Some(refused) = refused {
                    write = write.refuse(&refused);
                }
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    write = write.refuse("WHEN MATCHED THEN UPDATE ... WHERE/DELETE WHERE");
                }
                let values: Vec<Expr> =
                    update.assignments.iter().map(|a| a.value.clone()).collect();
                subqueries |= has_subquery(&values);
            }
            MergeAction::Insert(insert) => {
                spec.action = MergeActionKind::Insert;
                if insert.insert_predicate.is_some() {
                    write = write.refuse("WHEN NOT MATCHED THEN INSERT ... WHERE");
                }
                match &insert.kind {
                    MergeInsertKind::Values(values) if values.rows.len() == 1 => {
                        let row = &values.rows[0].content;
                        subqueries |= has_subquery(row);
                        let columns: Vec<String> = insert
                            .columns
                            .iter()
                            .filter_map(|column| normalized(column).pop())
                            .collect();
                        if !columns.is_empty() && columns.len() != row.len() {
                            write =
                                write.refuse("an INSERT whose columns and values differ in number");
                        }
                        spec.assignments = row
                            .iter()
                            .enumerate()
                            .map(|(index, value)| {
                                let column = columns.get(index).cloned().unwrap_or_default();
                                (column, value.to_string())
                            })
                            .collect();
                    }
                    _ => {
                        write =
                            write.refuse("WHEN NOT MATCHED THEN INSERT other than one VALUES row")
                    }
                }
            }
        }
        write.clauses.push(spec);
    }
    if merge.output.is_some() {
        write = write.refuse("MERGE ... OUTPUT");
    }
    if subqueries {
        write = write.refuse("a subquery in MERGE's conditions or values (put it in the source)");
    }
    (target, source, write)
}

/// The one table DELETE or UPDATE names: its name parts, the name predicates
/// may qualify columns with, and a description refusing joins.
fn single_table(tables: &[TableWithJoins]) -> (Vec<String>, String, RowWrite) {
    let write = RowWrite::default();
    match tables {
        [
            TableWithJoins {
                relation:
                    TableFactor::Table {
                        name,
                        alias,
                        args: None,
                        ..
                    },
                joins,
            },
        ] if joins.is_empty() => {
            let target_alias = alias_or_last(alias.as_ref().map(|a| &a.name), name);
            (
                normalized(name),
                target_alias.clone(),
                RowWrite {
                    target_alias,
                    ..write
                },
            )
        }
        _ => (
            Vec::new(),
            String::new(),
            write.refuse("a write to anything but one table (joins, functions)"),
        ),
    }
}

fn alias_or_last(alias: Option<&Ident>, name: &ObjectName) -> String {
    match alias {
        Some(alias) => normalized_ident(alias),
        None => normalized(name).pop().unwrap_or_default(),
    }
}

/// SET assignments as (column, expression); a refusal for tuple targets.
/// `unqualify`: the target's name, stripped from column references (DELETE
/// and UPDATE predicates are evaluated against the table alone).
fn assignments(
    assignments: &[Assignment],
    unqualify: Option<&str>,
) -> (Vec<(String, String)>, Option<String>) {
    let mut out = Vec::new();
    let mut refused = None;
    for assignment in assignments {
        match &assignment.target {
            AssignmentTarget::ColumnName(name) => {
                let column = normalized(name).pop().unwrap_or_default();
                let value = match unqualify {
                    Some(alias) => unqualified(&assignment.value, alias),
                    None => assignment.value.to_string(),
                };
                out.push((column, value));
            }
            AssignmentTarget::Tuple(_) => refused = Some("SET (a, b) = ...".to_owned()),
        }
    }
    (out, refused)
}

/// `expr` as SQL with `alias.column` references written as `column`.
fn unqualified(expr: &Expr, alias: &str) -> String {
    struct Strip<'a>(&'a str);
    impl VisitorMut for Strip<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = expr
                && let [qualifier, column] = parts.as_slice()
                && normalized_ident(qualifier) == self.0
            {
                *expr = Expr::Identifier(column.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut expr = expr.clone();
    let _ = VisitMut::visit(&mut expr, &mut Strip(alias));
    expr.to_string()
}

fn has_subquery<V: Visit>(node: &V) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    Visit::visit(node, &mut Find).is_break()
}

/// `sql` with its `$n` placeholders replaced by `literals[n - 1]` (SQL literal
/// text; `deltalake` evaluates predicates without parameters). Each literal
/// must be a constant: a value, a typed string, a cast of one, or a negation.
pub fn bind_parameters(sql: &str, literals: &[String]) -> Result<String, DataFusionError> {
    let values = literals
        .iter()
        .map(String::as_str)
        .map(constant)
        .collect::<Result<Vec<_>, _>>()?;
    let mut statements = super::statement::parse(sql)?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(
            "parameters bind to exactly one statement".to_owned(),
        ));
    }
    let Some(datafusion_sql::parser::Statement::Statement(mut statement)) = statements.pop_front()
    else {
        return Err(DataFusionError::Plan(
            "parameters bind only to SQL statements".to_owned(),
        ));
    };
    struct Bind<'a> {
        values: &'a [Expr],
        missing: Option<String>,
    }
    impl VisitorMut for Bind<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(value) = expr
                && let Value::Placeholder(name) = &value.value
            {
                let bound = name
                    .strip_prefix('$')
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| self.values.get(n));
                match bound {
                    Some(bound) => *expr = bound.clone(),
                    None => {
                        self.missing = Some(name.clone());
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut bind = Bind {
        values: &values,
        missing: None,
    };
    let _ = VisitMut::visit(statement.as_mut(), &mut bind);
    if let Some(missing) = bind.missing {
        return Err(DataFusionError::Plan(format!(
            "no value bound for parameter {missing} ({} given)",
            values.len()
        )));
    }
    Ok(statement.to_string())
}

fn constant(literal: &str) -> Result<Expr, DataFusionError> {
    let invalid = || DataFusionError::Plan(format!("not a constant parameter value: {literal}"));
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(literal)
        .map_err(|_| invalid())?;
    let expr = parser.parse_expr().map_err(|_| invalid())?;
    if parser.peek_token().token != datafusion_sql::sqlparser::tokenizer::Token::EOF {
        return Err(invalid());
    }
    fn is_constant(expr: &Expr) -> bool {
        match expr {
            Expr::Value(value) => !matches!(value.value, Value::Placeholder(_)),
            Expr::TypedString(_) => true,
            Expr::Cast { expr, .. } => is_constant(expr),
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => is_constant(expr),
            Expr::Nested(expr) => is_constant(expr),
            _ => false,
        }
    }
    if is_constant(&expr) {
        Ok(expr)
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::super::statement::{WriteKind, write_statement};
    use super::*;

    fn row(sql: &str) -> (WriteKind, Vec<String>, String, RowWrite) {
        let write = write_statement(sql).unwrap().unwrap();
        (
            write.kind,
            write.target,
            write.source,
            write.row.expect("a row-level write"),
        )
    }

    #[test]
    fn delete_names_target_and_predicate() {
        let (kind, target, _, write) = row("DELETE FROM Sales.\"T\" WHERE id < 3 AND t.x = 'a'");
        assert_eq!(kind, WriteKind::Delete);
        assert_eq!(target, vec!["sales", "T"]);
        assert_eq!(write.predicate.as_deref(), Some("id < 3 AND t.x = 'a'"));
        let (_, _, _, aliased) = row("DELETE FROM t AS x WHERE x.id < 3");
        assert_eq!(aliased.predicate.as_deref(), Some("id < 3"));
        let (_, _, _, all) = row("delete from t");
        assert_eq!(all.predicate, None);
        assert_eq!(all.refused, None);
    }

    #[test]
    fn update_names_assignments() {
        let (kind, target, _, write) = row("UPDATE t SET v = v * 2, \"Name\" = 'x' WHERE t.id = 5");
        assert_eq!(kind, WriteKind::Update);
        assert_eq!(target, vec!["t"]);
        assert_eq!(
            write.assignments,
            vec![
                ("v".to_owned(), "v * 2".to_owned()),
                ("Name".to_owned(), "'x'".to_owned())
            ]
        );
        assert_eq!(write.predicate.as_deref(), Some("id = 5"));
    }

    #[test]
    fn merge_names_source_and_clauses() {
        let (kind, target, source, write) = row(
            "MERGE INTO t AS tgt USING (SELECT id, v FROM s WHERE v > 1) AS src ON tgt.id = src.id \
             WHEN MATCHED AND src.v > 5 THEN UPDATE SET v = src.v \
             WHEN MATCHED THEN DELETE \
             WHEN NOT MATCHED THEN INSERT (id, v) VALUES (src.id, src.v) \
             WHEN NOT MATCHED BY SOURCE THEN DELETE",
        );
        assert_eq!(kind, WriteKind::Merge);
        assert_eq!(target, vec!["t"]);
        assert_eq!(source, "SELECT id, v FROM s WHERE v > 1");
        assert_eq!(write.target_alias, "tgt");
        assert_eq!(write.source_alias.as_deref(), Some("src"));
        assert_eq!(write.predicate.as_deref(), Some("tgt.id = src.id"));
        let kinds: Vec<_> = write
            .clauses
            .iter()
            .map(|c| (c.matched.name(), c.action.name()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("matched", "update"),
                ("matched", "delete"),
                ("not_matched", "insert"),
                ("not_matched_by_source", "delete")
            ]
        );
        assert_eq!(write.clauses[0].predicate.as_deref(), Some("src.v > 5"));
        assert_eq!(
            write.clauses[2].assignments,
            vec![
                ("id".to_owned(), "src.id".to_owned()),
                ("v".to_owned(), "src.v".to_owned())
            ]
        );
        assert_eq!(write.refused, None);

        let (_, _, source, table_source) =
            row("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)");
        assert_eq!(source, "SELECT * FROM s");
        assert_eq!(table_source.target_alias, "t");
        assert_eq!(table_source.source_alias.as_deref(), Some("s"));
        assert_eq!(
            table_source.clauses[0].assignments,
            vec![(String::new(), "s.id".to_owned())]
        );
    }

    #[test]
    fn unsupported_forms_are_refused_by_name() {
        for (sql, refused) in [
            (
                "UPDATE t SET v = 1 FROM s WHERE t.id = s.id",
                "UPDATE ... FROM",
            ),
            ("DELETE FROM t WHERE id IN (SELECT id FROM s)", "subquery"),
            ("UPDATE t SET v = (SELECT max(v) FROM s)", "subquery"),
            ("DELETE FROM t RETURNING id", "RETURNING"),
            (
                "MERGE INTO t USING (SELECT 1 AS id) ON t.id = id WHEN MATCHED THEN DELETE",
                "without an alias",
            ),
        ] {
            let write = write_statement(sql).unwrap().unwrap();
            let found = write.row.unwrap().refused.unwrap_or_default();
            assert!(found.contains(refused), "{sql}: {found}");
        }
    }

    #[test]
    fn parameters_bind_as_constants() {
        let bound = bind_parameters(
            "DELETE FROM t WHERE id < $1 AND name = $2 AND d > $3",
            &[
                "-3".to_owned(),
                "'it''s'".to_owned(),
                "CAST('2026-01-01' AS DATE)".to_owned(),
            ],
        )
        .unwrap();
        assert_eq!(
            bound,
            "DELETE FROM t WHERE id < -3 AND name = 'it''s' AND d > CAST('2026-01-01' AS DATE)"
        );
        assert!(bind_parameters("DELETE FROM t WHERE id < $2", &["1".to_owned()]).is_err());
        for bad in ["1; DROP TABLE t", "id", "(SELECT 1)", "$1", "1 OR 1 = 1"] {
            assert!(
                bind_parameters("DELETE FROM t WHERE id = $1", &[bad.to_owned()]).is_err(),
                "{bad}"
            );
        }
    }
}
