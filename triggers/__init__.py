"""The Triggers API: producers push events, consumers pull them from their tenant's inbox."""

__version__ = "1.2.0"
