"""Spark's built-in plugins, installed as the package ``spark_plugins`` (never a top-level ``plugins``)."""
