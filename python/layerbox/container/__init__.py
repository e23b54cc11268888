"""Containers: spec -> launch plan, the lifecycle, exec, logs, inspect."""
