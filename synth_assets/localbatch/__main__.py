"""``python -m synth_assets.localbatch serve ...`` (the same as ``synth localbatch serve``)."""

from .command import localbatch

if __name__ == "__main__":
    localbatch(prog_name="python -m synth_assets.localbatch")
