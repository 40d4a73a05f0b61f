"""What `dagster dev` and `dagster definitions validate` load (see [tool.dagster])."""

from synth_assets.defs import build_definitions

defs = build_definitions()
