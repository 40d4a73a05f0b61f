"""The ``synth`` command line: ``synth batch ...``, ``synth localbatch serve``, ``synth demo``.

Errors a user can cause are one sentence on stderr and exit code 1; anything else is a bug
and shows its traceback.
"""

import sys

import click

from synth_assets.batch import SynthError


class _Group(click.Group):
    """A group that prints SynthError as one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SynthError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synth-assets")
def synth() -> None:
    """Bulk structured LLM outputs at Batch-API prices, as Dagster assets.

    \b
    Examples:
      synth demo                       # the whole pipeline on the sample emails
      synth batch list                 # batches on the current backend
      synth localbatch serve           # the local OpenAI-compatible Batch API
    """


def _register() -> None:
    # Imported here, not at module import, so `synth --help` stays fast.
    from synth_assets.localbatch.command import localbatch

    from .batch import batch
    from .pipeline import backfill, demo, dev

    for command in (batch, localbatch, demo, dev, backfill):
        synth.add_command(command)


def main() -> None:
    """Console-script entry point."""
    _register()
    synth()
