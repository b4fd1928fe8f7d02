"""Falcon resources, one module per API resource; each receives its dependencies in its constructor."""
