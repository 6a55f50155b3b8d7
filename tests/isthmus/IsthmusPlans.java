// Serializes SQL queries to Substrait with Isthmus (SQL -> Apache Calcite -> Substrait).
// Usage: java -cp <isthmus jars> IsthmusPlans.java SCHEMA.sql OUT_DIR QUERY.sql...
// Writes OUT_DIR/<query>.pb (a serialized Substrait Plan) or OUT_DIR/<query>.error.
import io.substrait.isthmus.SqlToSubstrait;
import io.substrait.isthmus.sql.SubstraitCreateStatementParser;
import io.substrait.plan.PlanProtoConverter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class IsthmusPlans {
  public static void main(String[] args) throws Exception {
    List<String> creates = new ArrayList<>();
    for (String statement : Files.readString(Path.of(args[0])).split(";")) {
      if (!statement.isBlank()) {
        creates.add(statement.strip());
      }
    }
    var catalog = SubstraitCreateStatementParser.processCreateStatementsToCatalog(creates);
    Path out = Path.of(args[1]);
    Files.createDirectories(out);
    for (int i = 2; i < args.length; i++) {
      Path query = Path.of(args[i]);
      String name = query.getFileName().toString().replaceFirst("\\.sql$", "");
      String sql = Files.readString(query).strip();
      if (sql.endsWith(";")) {
        sql = sql.substring(0, sql.length() - 1);
      }
      try {
        var plan = new SqlToSubstrait().convert(sql, catalog);
        byte[] bytes = new PlanProtoConverter().toProto(plan).toByteArray();
        Files.write(out.resolve(name + ".pb"), bytes);
      } catch (Exception | Error e) {
        Files.writeString(out.resolve(name + ".error"), e.toString());
      }
    }
  }
}
