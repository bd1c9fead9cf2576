"""Public-procurement watcher for immigration detention contracts."""

__version__ = "0.1.0"
