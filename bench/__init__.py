"""The performance benchmark of the Triggers API: `python -m bench --help` (docs/performance.md)."""
