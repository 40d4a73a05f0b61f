"""The project's task declarations: one folder per task, each with a ``defs.yaml``.

This package is the ``dg`` project's defs folder (``[tool.dg.project] defs_module``): `dg
list defs`, `dg check yaml` and `dg scaffold defs synth_assets.BatchTaskComponent <name>`
work on it, and ``definitions.py`` loads every task found here. Copy a folder, edit its
YAML, and the new task has its assets, checks, jobs and schedule.
"""
