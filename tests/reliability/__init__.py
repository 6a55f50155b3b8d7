"""Reliability under change: readers against one real server while its tables are
written, re-pinned, refreshed and maintained, then a SIGKILL and a restart.

`lake` builds the catalog and tracks every state a table committed; `workers`
are the load's loops; `run` drives one run and checks it (used by
tests/test_reliability.py and, for the long run, scripts/reliability.sh).
"""
