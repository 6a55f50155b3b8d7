import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.JDBCType;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Drives the Arrow Flight SQL JDBC driver the way DBeaver does on connect and browse, then
 * prints one JSON document of what it observed.
 *
 * <p>Usage: {@code JdbcProbe SCENARIO URL [ARGS...]}; scenarios {@code types} and {@code
 * execute} read their statements from stdin. Every step runs on its own: a step that
 * throws is recorded with its stack trace and the scenario goes on, so one run reports every
 * failure. Values are reported as canonical strings (see {@link #cell}) next to their JDBC type
 * names, for pytest to compare against what it computed independently. Only java.sql is used, so
 * this compiles without the driver jar.
 */
public final class JdbcProbe {
  /** A step's body: returns a JSON-able value (String, Number, Boolean, List, Map or null). */
  interface Body {
    Object run() throws Exception;
  }

  /** Thrown by a step whose input an earlier step failed to produce. */
  static final class NotRun extends Exception {
    private static final long serialVersionUID = 1L;

    NotRun(String message) {
      super(message);
    }
  }

  /** The getters DBeaver calls on connect (JDBCDataSourceInfo, JDBCSQLDialect). */
  static final List<String> DBEAVER_GETTERS =
      List.of(
          "getDatabaseProductName",
          "getDatabaseProductVersion",
          "getDriverName",
          "getDriverVersion",
          "isReadOnly",
          "getSchemaTerm",
          "getProcedureTerm",
          "getCatalogTerm",
          "supportsBatchUpdates",
          "supportsTransactions",
          "getIdentifierQuoteString",
          "getSQLStateType",
          "supportsCorrelatedSubqueries",
          "supportsSubqueriesInComparisons",
          "supportsSubqueriesInExists",
          "supportsSubqueriesInIns",
          "supportsSubqueriesInQuantifieds",
          "supportsMixedCaseIdentifiers",
          "supportsMixedCaseQuotedIdentifiers",
          "storesUpperCaseIdentifiers",
          "storesLowerCaseIdentifiers",
          "storesUpperCaseQuotedIdentifiers",
          "storesLowerCaseQuotedIdentifiers",
          "getSearchStringEscape",
          "getCatalogSeparator",
          "supportsCatalogsInDataManipulation",
          "supportsCatalogsInTableDefinitions",
          "supportsCatalogsInProcedureCalls",
          "supportsCatalogsInIndexDefinitions",
          "supportsCatalogsInPrivilegeDefinitions",
          "supportsSchemasInDataManipulation",
          "supportsSchemasInTableDefinitions",
          "supportsSchemasInProcedureCalls",
          "supportsSchemasInIndexDefinitions",
          "supportsSchemasInPrivilegeDefinitions",
          "getExtraNameCharacters",
          "isCatalogAtStart",
          "getSQLKeywords",
          "getNumericFunctions",
          "getStringFunctions",
          "getSystemFunctions",
          "getTimeDateFunctions");

  private static final DateTimeFormatter LOCAL_TIMESTAMP =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSS");
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

  private final String url;
  private final Map<String, Object> steps = new LinkedHashMap<>();

  private JdbcProbe(String url) {
    this.url = url;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: JdbcProbe SCENARIO URL [ARGS...]");
      System.exit(2);
    }
    String scenario = args[0];
    JdbcProbe probe = new JdbcProbe(args[1]);
    List<String> rest = Arrays.asList(args).subList(2, args.length);
    switch (scenario) {
      case "browse":
        probe.browse(rest.get(0));
        break;
      case "query":
        probe.query();
        break;
      case "update":
        probe.update(rest.get(0));
        break;
      case "writes":
        probe.writes(rest.get(0), rest.get(1), rest.get(2));
        break;
      case "rowwrites":
        probe.rowWrites(rest.get(0));
        break;
      case "execute":
        // Statements come on stdin (UTF-8, NUL-separated), as for "types".
        String statements = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        probe.execute(Arrays.asList(statements.split("\0")));
        break;
      case "bind":
        // One binding a line on stdin: SETTER, VALUE and SQL separated by tabs.
        String bindings = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        probe.bind(Arrays.asList(bindings.split("\n")));
        break;
      case "typeinfo":
        probe.typeInfo();
        break;
      case "types":
        // Queries come on stdin (UTF-8, NUL-separated): arguments would pass through the
        // platform charset and mangle non-ASCII literals.
        String input = new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        probe.types(Arrays.asList(input.split("\0")));
        break;
      default:
        System.err.println("unknown scenario " + scenario);
        System.exit(2);
    }
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("scenario", scenario);
    report.put("java", System.getProperty("java.version"));
    report.put("driver", probe.driverInfo());
    report.put("steps", probe.steps);
    byte[] json = (Json.write(report) + "\n").getBytes(StandardCharsets.UTF_8);
    System.out.write(json);
    System.out.flush();
    // The driver's gRPC threads may outlive main; the report is complete.
    System.exit(0);
  }

  // -- scenarios --------------------------------------------------------------------------

  /** What DBeaver does on connect and while browsing the navigator tree. */
  private void browse(String catalog) {
    Connection conn = connect("connect", new Properties());
    step("getCatalog", () -> need(conn, "connect").getCatalog());
    DatabaseMetaData md = (DatabaseMetaData) step("getMetaData", () -> need(conn, "connect").getMetaData());
    for (String getter : DBEAVER_GETTERS) {
      step("property:" + getter, () -> invoke(need(md, "getMetaData"), getter));
    }
    step("getTypeInfo", () -> table(need(md, "getMetaData").getTypeInfo()));
    step("getTableTypes", () -> table(need(md, "getMetaData").getTableTypes()));
    step("getSchemas()", () -> table(need(md, "getMetaData").getSchemas()));
    step("getTables(all)", () -> table(need(md, "getMetaData").getTables(null, null, null, null)));
    step(
        "getTables(TABLE,VIEW)",
        () ->
            table(
                need(md, "getMetaData")
                    .getTables(null, null, "%", new String[] {"TABLE", "VIEW"})));
    // The navigator tree: catalogs, then each one's schemas, tables, columns and keys.
    Map<?, ?> catalogs = (Map<?, ?>) step("getCatalogs", () -> table(need(md, "getMetaData").getCatalogs()));
    for (String cat : column(catalogs, "TABLE_CAT")) {
      Map<?, ?> schemas =
          (Map<?, ?>)
              step("getSchemas(" + cat + ")", () -> table(md.getSchemas(cat, null)));
      for (String schema : column(schemas, "TABLE_SCHEM")) {
        String where = cat + "." + schema;
        Map<?, ?> tables =
            (Map<?, ?>)
                step("getTables(" + where + ")", () -> table(md.getTables(cat, schema, "%", null)));
        for (String name : column(tables, "TABLE_NAME")) {
          String qualified = where + "." + name;
          step("getColumns(" + qualified + ")", () -> table(md.getColumns(cat, schema, name, "%")));
          step("getPrimaryKeys(" + qualified + ")", () -> table(md.getPrimaryKeys(cat, schema, name)));
          step(
              "getImportedKeys(" + qualified + ")", () -> table(md.getImportedKeys(cat, schema, name)));
        }
      }
    }
    step("close", () -> close(need(conn, "connect")));

    // DBeaver's "catalog" connection property, set when a default database is chosen.
    Properties withCatalog = new Properties();
    withCatalog.setProperty("catalog", catalog);
    Connection scoped = connect("connect(catalog)", withCatalog);
    step("connect(catalog):getCatalog", () -> need(scoped, "connect(catalog)").getCatalog());
    step(
        "connect(catalog):query",
        () -> query(need(scoped, "connect(catalog)"), "SELECT count(*) AS n FROM nation"));
    step(
        "connect(catalog):setCatalog",
        () -> {
          Connection c = need(scoped, "connect(catalog)");
          c.setCatalog(catalog);
          return c.getCatalog();
        });
    step("connect(catalog):close", () -> close(need(scoped, "connect(catalog)")));

    Properties unknown = new Properties();
    unknown.setProperty("catalog", "no_such_catalog");
    Connection refused = connect("connect(unknown catalog)", unknown);
    if (refused != null) {
      step("connect(unknown catalog):close", () -> close(refused));
    }
  }

  /** Statement and PreparedStatement queries, as DBeaver's SQL editor runs them. */
  private void query() {
    Connection conn = connect("connect", new Properties());
    step(
        "statement:executeQuery",
        () ->
            query(
                need(conn, "connect"),
                "SELECT n_nationkey, n_name, n_regionkey, n_comment FROM nation ORDER BY n_nationkey"));
    step(
        "statement:execute",
        () -> {
          try (Statement statement = need(conn, "connect").createStatement()) {
            statement.setFetchSize(200); // DBeaver's default result set page
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("isResultSet", statement.execute("SELECT * FROM region ORDER BY r_regionkey"));
            out.put("result", table(statement.getResultSet()));
            out.put("updateCount", statement.getUpdateCount());
            return out;
          }
        });
    step(
        "statement:customer",
        () -> query(need(conn, "connect"), "SELECT * FROM customer ORDER BY c_custkey"));
    step(
        "statement:first-page",
        () -> {
          // DBeaver reads one page of a result, then closes it with the rest unread.
          try (Statement statement = need(conn, "connect").createStatement()) {
            statement.setMaxRows(200);
            statement.setFetchSize(200);
            return table(
                statement.executeQuery("SELECT c_custkey, c_name FROM customer ORDER BY c_custkey"),
                10);
          }
        });
    step(
        "statement:after-first-page",
        () -> query(need(conn, "connect"), "SELECT count(*) AS n FROM customer"));
    step(
        "prepared:metadata",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement(
                      "SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = ? AND n_name <> ?")) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("columns", columns(ps.getMetaData()));
            ParameterMetaData params = ps.getParameterMetaData();
            List<Object> types = new ArrayList<>();
            for (int i = 1; i <= params.getParameterCount(); i++) {
              types.add(jdbcTypeName(params.getParameterType(i)));
            }
            out.put("parameterTypes", types);
            return out;
          }
        });
    step(
        "prepared:int",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement("SELECT n_nationkey, n_name FROM nation WHERE n_nationkey = ?")) {
            // Executed twice with different values, as a re-run in DBeaver does.
            List<Object> runs = new ArrayList<>();
            for (int key : new int[] {7, 24}) {
              ps.setInt(1, key);
              try (ResultSet rs = ps.executeQuery()) {
                runs.add(table(rs));
              }
            }
            return runs;
          }
        });
    step(
        "prepared:string",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement(
                      "SELECT n_nationkey, n_name FROM nation WHERE n_name = ? OR n_name LIKE ?"
                          + " ORDER BY n_nationkey")) {
            ps.setString(1, "GERMANY");
            ps.setString(2, "UNITED%");
            try (ResultSet rs = ps.executeQuery()) {
              return table(rs);
            }
          }
        });
    step(
        "prepared:decimal",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement(
                      "SELECT c_custkey, c_acctbal FROM customer WHERE c_nationkey = ?"
                          + " AND c_acctbal > ? ORDER BY c_custkey")) {
            ps.setLong(1, 3L);
            ps.setBigDecimal(2, new BigDecimal("5000.00"));
            try (ResultSet rs = ps.executeQuery()) {
              return table(rs);
            }
          }
        });
    step(
        "prepared:null",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement("SELECT count(*) AS n FROM nation WHERE n_nationkey = ?")) {
            ps.setNull(1, Types.BIGINT);
            try (ResultSet rs = ps.executeQuery()) {
              return table(rs);
            }
          }
        });
    step(
        "statement:error",
        () -> query(need(conn, "connect"), "SELECT no_such_column FROM nation"));
    step(
        "statement:after-error",
        () -> query(need(conn, "connect"), "SELECT count(*) AS n FROM nation"));
    step("close", () -> close(need(conn, "connect")));
  }

  /** Writes to a Delta table with declared constraints, and reads its primary key. */
  private void writes(String catalog, String schema, String table) {
    Connection conn = connect("connect", new Properties());
    String qualified = catalog + "." + schema + "." + table;
    step(
        "getPrimaryKeys",
        () -> table(need(conn, "connect").getMetaData().getPrimaryKeys(catalog, schema, table)));
    update(conn, "insert", "INSERT INTO " + qualified + " VALUES (10, 'jdbc', 3)");
    step(
        "insert-prepared",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect").prepareStatement("INSERT INTO " + qualified + " VALUES (?, ?, ?)")) {
            ps.setLong(1, 11L);
            ps.setString(2, "jdbc-prepared");
            ps.setLong(3, 4L);
            return ps.executeUpdate();
          }
        });
    update(conn, "insert-violating", "INSERT INTO " + qualified + " VALUES (12, 'bad', 0)");
    step(
        "select",
        () -> query(need(conn, "connect"), "SELECT id, customer FROM " + qualified + " ORDER BY id"));
    step("close", () -> close(need(conn, "connect")));
  }

  /**
   * DELETE, UPDATE and MERGE through executeUpdate (plain and prepared) on a Delta table with
   * columns (id BIGINT, v DOUBLE, p VARCHAR) holding ids 1..10.
   */
  private void rowWrites(String table) {
    Connection conn = connect("connect", new Properties());
    update(conn, "delete", "DELETE FROM " + table + " WHERE id < 3");
    update(conn, "update", "UPDATE " + table + " SET v = v * 10 WHERE id >= 9");
    update(
        conn,
        "merge",
        "MERGE INTO " + table + " AS t USING (SELECT * FROM (VALUES (4, 40.5), (20, 200.5))"
            + " AS s(id, v)) AS s ON t.id = s.id"
            + " WHEN MATCHED THEN UPDATE SET v = s.v"
            + " WHEN NOT MATCHED THEN INSERT (id, v, p) VALUES (s.id, s.v, 'new')");
    step(
        "update-prepared",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect")
                  .prepareStatement("UPDATE " + table + " SET p = ? WHERE id = ?")) {
            ps.setString(1, "it's");
            ps.setLong(2, 5L);
            return ps.executeUpdate();
          }
        });
    step(
        "delete-prepared",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect").prepareStatement("DELETE FROM " + table + " WHERE id > ?")) {
            ps.setLong(1, 15L);
            return ps.executeUpdate();
          }
        });
    update(conn, "update-refused", "UPDATE " + table + " SET v = 1 FROM other WHERE id = 1");
    step(
        "select",
        () -> query(need(conn, "connect"), "SELECT id, v, p FROM " + table + " ORDER BY id"));
    step("close", () -> close(need(conn, "connect")));
  }

  /** DDL and DML through executeUpdate, executeBatch and execute, on tables named PREFIX_*. */
  private void update(String prefix) {
    Connection conn = connect("connect", new Properties());
    String values = prefix + "_values";
    String view = prefix + "_view";
    String memory = prefix + "_memory";
    update(conn, "create-table-as", "CREATE TABLE " + values + " AS VALUES (1, 'one'), (2, 'two')");
    step(
        "select-table-as",
        () -> query(need(conn, "connect"), "SELECT * FROM " + values + " ORDER BY column1"));
    update(
        conn,
        "create-view",
        "CREATE VIEW " + view + " AS SELECT column1 * 10 AS x, column2 AS y FROM " + values);
    step("select-view", () -> query(need(conn, "connect"), "SELECT * FROM " + view + " ORDER BY x"));
    update(conn, "create-table", "CREATE TABLE " + memory + " (id BIGINT, name VARCHAR)");
    update(conn, "insert-values", "INSERT INTO " + memory + " VALUES (1, 'a'), (2, 'b')");
    step(
        "insert-prepared",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect").prepareStatement("INSERT INTO " + memory + " VALUES (?, ?)")) {
            ps.setLong(1, 3L);
            ps.setString(2, "c");
            return ps.executeUpdate();
          }
        });
    step(
        "insert-batch",
        () -> {
          try (PreparedStatement ps =
              need(conn, "connect").prepareStatement("INSERT INTO " + memory + " VALUES (?, ?)")) {
            ps.setLong(1, 4L);
            ps.setString(2, "d");
            ps.addBatch();
            ps.setLong(1, 5L);
            ps.setNull(2, Types.VARCHAR);
            ps.addBatch();
            List<Object> counts = new ArrayList<>();
            for (int count : ps.executeBatch()) {
              counts.add(count);
            }
            return counts;
          }
        });
    step(
        "insert-execute",
        () -> {
          try (Statement statement = need(conn, "connect").createStatement()) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("isResultSet", statement.execute("INSERT INTO " + memory + " VALUES (6, 'f')"));
            out.put("updateCount", statement.getUpdateCount());
            return out;
          }
        });
    step(
        "select-memory",
        () -> query(need(conn, "connect"), "SELECT * FROM " + memory + " ORDER BY id"));
    step(
        "tables-created",
        () -> table(need(conn, "connect").getMetaData().getTables(null, null, prefix + "%", null)));
    update(conn, "create-table-error", "CREATE TABLE " + prefix + "_bad AS SELECT no_such FROM nation");
    update(conn, "drop-view", "DROP VIEW " + view);
    update(conn, "drop-table-as", "DROP TABLE " + values);
    step(
        "drop-table-prepared",
        () -> {
          try (PreparedStatement ps = need(conn, "connect").prepareStatement("DROP TABLE " + memory)) {
            return ps.executeUpdate();
          }
        });
    step(
        "tables-dropped",
        () -> table(need(conn, "connect").getMetaData().getTables(null, null, prefix + "%", null)));
    step("close", () -> close(need(conn, "connect")));
  }

  /** Each statement through Statement.execute, as a SQL editor runs what is typed. */
  private void execute(List<String> statements) {
    Connection conn = connect("connect", new Properties());
    for (int i = 0; i < statements.size(); i++) {
      String sql = statements.get(i);
      step(
          "execute:" + i,
          () -> {
            try (Statement statement = need(conn, "connect").createStatement()) {
              Map<String, Object> out = new LinkedHashMap<>();
              boolean isResultSet = statement.execute(sql);
              out.put("isResultSet", isResultSet);
              out.put("result", isResultSet ? table(statement.getResultSet()) : null);
              out.put("updateCount", statement.getUpdateCount());
              return out;
            }
          });
    }
    step("close", () -> close(need(conn, "connect")));
  }

  /** DatabaseMetaData.getTypeInfo alone, to see whether the driver asks the server. */
  private void typeInfo() {
    Connection conn = connect("connect", new Properties());
    step("getTypeInfo", () -> table(need(conn, "connect").getMetaData().getTypeInfo()));
    step("close", () -> close(need(conn, "connect")));
  }

  /** Each SQL prepared, its one parameter bound with the named setter, then executed. */
  private void bind(List<String> bindings) {
    Connection conn = connect("connect", new Properties());
    for (String line : bindings) {
      if (line.isBlank()) {
        continue;
      }
      String[] parts = line.split("\t", 3);
      step(
          "bind:" + parts[0] + ":" + parts[2],
          () -> {
            try (PreparedStatement ps = need(conn, "connect").prepareStatement(parts[2])) {
              setParameter(ps, parts[0], parts[1]);
              try (ResultSet rs = ps.executeQuery()) {
                return table(rs);
              }
            }
          });
    }
    step("close", () -> close(need(conn, "connect")));
  }

  private static void setParameter(PreparedStatement ps, String setter, String value)
      throws Exception {
    if (setter.equals("setInt")) {
      ps.setInt(1, Integer.parseInt(value));
    } else if (setter.equals("setLong")) {
      ps.setLong(1, Long.parseLong(value));
    } else if (setter.equals("setDouble")) {
      ps.setDouble(1, Double.parseDouble(value));
    } else if (setter.equals("setBigDecimal")) {
      ps.setBigDecimal(1, new BigDecimal(value));
    } else if (setter.equals("setString")) {
      ps.setString(1, value);
    } else if (setter.equals("setDate")) {
      ps.setDate(1, java.sql.Date.valueOf(value));
    } else if (setter.equals("setTimestamp")) {
      ps.setTimestamp(1, Timestamp.valueOf(value));
    } else if (setter.equals("setBoolean")) {
      ps.setBoolean(1, Boolean.parseBoolean(value));
    } else if (setter.equals("setNull")) {
      ps.setNull(1, JDBCType.valueOf(value).getVendorTypeNumber());
    } else {
      throw new IllegalArgumentException("unknown setter " + setter);
    }
  }

  /** Each query through a Statement and through a PreparedStatement, every value read. */
  private void types(List<String> queries) {
    Connection conn = connect("connect", new Properties());
    for (int i = 0; i < queries.size(); i++) {
      String sql = queries.get(i);
      step(
          "statement:" + i,
          () -> {
            try (Statement statement = need(conn, "connect").createStatement()) {
              if (!statement.execute(sql)) {
                throw new IllegalStateException("execute() returned no result set for " + sql);
              }
              return table(statement.getResultSet());
            }
          });
      step(
          "prepared:" + i,
          () -> {
            try (PreparedStatement ps = need(conn, "connect").prepareStatement(sql);
                ResultSet rs = ps.executeQuery()) {
              return table(rs);
            }
          });
    }
    step("close", () -> close(need(conn, "connect")));
  }

  // -- steps --------------------------------------------------------------------------------

  /** Runs one step, recording its value or its failure; returns the value (null on failure). */
  private Object step(String name, Body body) {
    System.err.println("step " + name);
    Map<String, Object> record = new LinkedHashMap<>();
    Object value = null;
    try {
      value = body.run();
      record.put("ok", true);
      record.put("value", value);
    } catch (Throwable failure) {
      record.put("ok", false);
      record.put("error", describe(failure));
    }
    String key = name;
    for (int n = 2; steps.containsKey(key); n++) {
      key = name + "#" + n;
    }
    steps.put(key, record);
    return value;
  }

  private Connection connect(String name, Properties properties) {
    Connection[] opened = new Connection[1];
    step(
        name,
        () -> {
          opened[0] = DriverManager.getConnection(url, properties);
          return "connected";
        });
    return opened[0];
  }

  private void update(Connection conn, String name, String sql) {
    step(
        name,
        () -> {
          try (Statement statement = need(conn, "connect").createStatement()) {
            return statement.executeUpdate(sql);
          }
        });
  }

  private static <T> T need(T input, String producer) throws NotRun {
    if (input == null) {
      throw new NotRun("not run: step '" + producer + "' failed");
    }
    return input;
  }

  private static Object invoke(DatabaseMetaData md, String getter) throws Exception {
    try {
      return DatabaseMetaData.class.getMethod(getter).invoke(md);
    } catch (InvocationTargetException e) {
      // Report what the driver threw, not the reflection wrapper.
      if (e.getCause() instanceof Exception) {
        throw (Exception) e.getCause();
      }
      throw (Error) e.getCause();
    }
  }

  private static String close(Connection conn) throws Exception {
    conn.close();
    return "closed";
  }

  private Map<String, Object> driverInfo() {
    Map<String, Object> info = new LinkedHashMap<>();
    try {
      Driver driver = DriverManager.getDriver(url);
      info.put("class", driver.getClass().getName());
      info.put("version", driver.getMajorVersion() + "." + driver.getMinorVersion());
    } catch (Throwable failure) {
      info.put("error", describe(failure));
    }
    return info;
  }

  private static Map<String, Object> describe(Throwable failure) {
    StringWriter trace = new StringWriter();
    failure.printStackTrace(new PrintWriter(trace));
    Map<String, Object> error = new LinkedHashMap<>();
    error.put("class", failure.getClass().getName());
    error.put("message", String.valueOf(failure.getMessage()));
    error.put("trace", trace.toString());
    return error;
  }

  // -- result sets --------------------------------------------------------------------------

  private static Map<String, Object> query(Connection conn, String sql) throws Exception {
    try (Statement statement = conn.createStatement();
        ResultSet rs = statement.executeQuery(sql)) {
      return table(rs);
    }
  }

  /**
   * A result set as {columns: [...], rows: [[canonical string or null, ...], ...]}. Each column
   * also tells what getObject() returned for it (DBeaver reads most values that way): the class
   * of its first non-null object, or the first error getObject() raised.
   */
  private static Map<String, Object> table(ResultSet rs) throws Exception {
    return table(rs, Integer.MAX_VALUE);
  }

  /** The first {@code limit} rows of a result set, which is then closed unread. */
  private static Map<String, Object> table(ResultSet rs, int limit) throws Exception {
    try (rs) {
      ResultSetMetaData meta = rs.getMetaData();
      int count = meta.getColumnCount();
      int[] types = new int[count];
      for (int i = 0; i < count; i++) {
        types[i] = meta.getColumnType(i + 1);
      }
      String[] objectClasses = new String[count];
      Object[] objectErrors = new Object[count];
      List<Object> rows = new ArrayList<>();
      while (rows.size() < limit && rs.next()) {
        List<Object> row = new ArrayList<>();
        for (int i = 0; i < count; i++) {
          try {
            Object object = rs.getObject(i + 1);
            if (object != null && objectClasses[i] == null) {
              objectClasses[i] = object.getClass().getName();
            }
          } catch (Throwable failure) {
            if (objectErrors[i] == null) {
              objectErrors[i] = describe(failure);
            }
          }
          row.add(cell(rs, i + 1, types[i]));
        }
        rows.add(row);
      }
      List<Object> columns = columns(meta);
      for (int i = 0; i < count; i++) {
        @SuppressWarnings("unchecked")
        Map<String, Object> column = (Map<String, Object>) columns.get(i);
        column.put("objectClass", objectClasses[i]);
        column.put("objectError", objectErrors[i]);
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("columns", columns);
      out.put("rows", rows);
      return out;
    }
  }

  private static List<Object> columns(ResultSetMetaData meta) throws Exception {
    List<Object> columns = new ArrayList<>();
    for (int i = 1; meta != null && i <= meta.getColumnCount(); i++) {
      Map<String, Object> column = new LinkedHashMap<>();
      column.put("name", meta.getColumnLabel(i));
      column.put("jdbcType", jdbcTypeName(meta.getColumnType(i)));
      column.put("typeName", meta.getColumnTypeName(i));
      column.put("className", meta.getColumnClassName(i));
      column.put("precision", meta.getPrecision(i));
      column.put("scale", meta.getScale(i));
      column.put("nullable", meta.isNullable(i));
      columns.add(column);
    }
    return columns;
  }

  /**
   * One value as a canonical string: integers in decimal, decimals in plain notation, floats as
   * Java prints them, dates ISO, times HH:mm:ss.SSS, timestamps ISO with nanoseconds (naive ones
   * as wall time, zoned ones as the UTC instant with a Z), binary in lower-case hex.
   */
  private static Object cell(ResultSet rs, int column, int type) throws Exception {
    Object value;
    switch (type) {
      case Types.TINYINT:
      case Types.SMALLINT:
      case Types.INTEGER:
      case Types.BIGINT:
        value = rs.getLong(column);
        break;
      case Types.DECIMAL:
      case Types.NUMERIC:
        BigDecimal decimal = rs.getBigDecimal(column);
        value = decimal == null ? null : decimal.toPlainString();
        break;
      case Types.REAL:
      case Types.FLOAT:
      case Types.DOUBLE:
        Object number = rs.getObject(column);
        value = number == null ? null : number.toString(); // Float or Double, unwidened
        break;
      case Types.BOOLEAN:
      case Types.BIT:
        value = rs.getBoolean(column);
        break;
      case Types.BINARY:
      case Types.VARBINARY:
      case Types.LONGVARBINARY:
        byte[] bytes = rs.getBytes(column);
        value = bytes == null ? null : hex(bytes);
        break;
      case Types.DATE:
        java.sql.Date date = rs.getDate(column);
        value = date == null ? null : date.toLocalDate().toString();
        break;
      case Types.TIME:
        java.sql.Time time = rs.getTime(column);
        value =
            time == null
                ? null
                : LocalDateTime.ofEpochSecond(
                        Math.floorDiv(time.getTime(), 1000L),
                        (int) Math.floorMod(time.getTime(), 1000L) * 1_000_000,
                        ZoneOffset.UTC)
                    .format(TIME);
        break;
      case Types.TIMESTAMP:
        Timestamp naive = rs.getTimestamp(column);
        value = naive == null ? null : naive.toLocalDateTime().format(LOCAL_TIMESTAMP);
        break;
      case Types.TIMESTAMP_WITH_TIMEZONE:
        Timestamp zoned = rs.getTimestamp(column);
        value =
            zoned == null
                ? null
                : LocalDateTime.ofInstant(zoned.toInstant(), ZoneOffset.UTC).format(LOCAL_TIMESTAMP)
                    + "Z";
        break;
      case Types.NULL:
        value = rs.getObject(column);
        break;
      default:
        value = rs.getString(column);
    }
    return rs.wasNull() || value == null ? null : String.valueOf(value);
  }

  private static String jdbcTypeName(int type) {
    try {
      return JDBCType.valueOf(type).getName();
    } catch (IllegalArgumentException e) {
      return Integer.toString(type);
    }
  }

  private static String hex(byte[] bytes) {
    StringBuilder out = new StringBuilder();
    for (byte b : bytes) {
      out.append(String.format("%02x", b & 0xff));
    }
    return out.toString();
  }

  /** The string values of one column of a captured table; none when its step failed. */
  private static List<String> column(Map<?, ?> table, String name) {
    List<String> values = new ArrayList<>();
    if (table == null) {
      return values;
    }
    List<?> columns = (List<?>) table.get("columns");
    int index = -1;
    for (int i = 0; i < columns.size(); i++) {
      if (name.equals(((Map<?, ?>) columns.get(i)).get("name"))) {
        index = i;
      }
    }
    if (index < 0) {
      return values;
    }
    for (Object row : (List<?>) table.get("rows")) {
      values.add(String.valueOf(((List<?>) row).get(index)));
    }
    return values;
  }

  // -- JSON ---------------------------------------------------------------------------------

  /** A minimal JSON writer: java.sql is all this program may depend on. */
  static final class Json {
    static String write(Object value) {
      StringBuilder out = new StringBuilder();
      write(value, out);
      return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
      if (value == null) {
        out.append("null");
      } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long) {
        out.append(value);
      } else if (value instanceof Map) {
        out.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
          if (!first) {
            out.append(',');
          }
          first = false;
          string(String.valueOf(entry.getKey()), out);
          out.append(':');
          write(entry.getValue(), out);
        }
        out.append('}');
      } else if (value instanceof List) {
        out.append('[');
        boolean first = true;
        for (Object item : (List<?>) value) {
          if (!first) {
            out.append(',');
          }
          first = false;
          write(item, out);
        }
        out.append(']');
      } else {
        // Everything else (strings, other numbers, driver objects) travels as its text.
        string(value.toString(), out);
      }
    }

    private static void string(String text, StringBuilder out) {
      out.append('"');
      for (int i = 0; i < text.length(); i++) {
        char c = text.charAt(i);
        if (c == '"' || c == '\\') {
          out.append('\\').append(c);
        } else if (c < 0x20 || c > 0x7e) {
          out.append(String.format("\\u%04x", (int) c));
        } else {
          out.append(c);
        }
      }
      out.append('"');
    }
  }
}
