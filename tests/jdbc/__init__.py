"""Arrow Flight SQL JDBC driver tests: fetching the driver, the Java probe, reading its reports."""
