"""DataFusion's sqllogictest suite run in process and through the server (issue 14)."""
