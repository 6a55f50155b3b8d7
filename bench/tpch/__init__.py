"""TPC-H: the 22 query texts (queries/*.sql), answer comparison and the benchmark section."""
