"""Writes: Delta commits through `deltalake` (INSERT, CREATE TABLE AS, ingest),
the constraints every commit is checked against, and the artifacts of
non-Delta writes (COPY, INSERT into listing tables)."""
