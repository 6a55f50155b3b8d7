"""The catalog: table definitions and their registration into the session."""
