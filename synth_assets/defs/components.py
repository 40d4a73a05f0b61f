"""``BatchTaskComponent``: one task declared in a ``defs.yaml`` (a Dagster component).

Its attributes are :class:`synth_assets.tasks.spec.TaskSpec`'s (see the README's "Your own
task in five minutes"); ``build_defs`` turns them into the task's assets, checks, jobs and
schedule through the project's one factory (:func:`task_definitions`). The completion
sensor and the resources are the project's, added once by ``build_definitions``.
"""

import textwrap

import dagster as dg

from synth_assets.tasks import BatchTask
from synth_assets.tasks.spec import COMPONENT_TYPE, TaskSpec

from .factory import task_definitions


class BatchTaskScaffolder(dg.Scaffolder):
    """Writes a commented ``defs.yaml`` for an extraction task over a CSV file."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        """``dg scaffold defs synth_assets.BatchTaskComponent <name>``."""
        name = request.target_path.name.replace("-", "_")
        (request.target_path / "defs.yaml").write_text(scaffold_yaml(name), encoding="utf-8")


def scaffold_yaml(name: str) -> str:
    """A new task's ``defs.yaml``: an extraction task to point at your own CSV."""
    return textwrap.dedent(
        f"""\
        # A batch task: each row of the dataset becomes one request; the answers land in
        # data/out/{name}/parsed (and unparsed), one Parquet folder per day.
        # In prompts, [[column]] is the row's value (Dagster resolves {{{{ … }}}} itself).
        type: {COMPONENT_TYPE}

        attributes:
          name: {name}
          description: Extract the request type and urgency of each ticket.
          dataset:
            # The example tickets; point it at your own file (relative to the project), or
            # at a folder of date=YYYY-MM-DD/ subfolders (CSV, JSONL or Parquet files).
            path: data/tickets.csv
            id_column: ticket_id
            text_column: message
            date_column: date
            extra_columns: [customer]
          prompt:
            system: Read the support ticket and fill in the fields asked for.
            user: |-
              Customer: [[customer]]

              [[text]]
          response_schema:
            type: object
            properties:
              request_type:
                enum: [question, bug, billing, other]
              urgency:
                type: integer
                minimum: 1
                maximum: 5
              summary:
                type: string
                description: One sentence.
            required: [request_type, urgency, summary]
          model: gpt-4o-mini
          mode: json_schema
          params: {{}}
          start_date: "2026-11-01"
          schedule: false
        """
    )


@dg.scaffold_with(BatchTaskScaffolder)
class BatchTaskComponent(dg.Component, dg.Resolvable, TaskSpec):
    """One batch task: a dataset (or seed grid, or upstream task), a prompt, a response
    model; it gets the daily chain of assets, its checks, submit/collect jobs and schedule."""

    def task(self, where: str | None = None) -> BatchTask:
        """The task these attributes declare (raises ``TaskSpecError`` naming the field)."""
        return self.to_task(where)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The task's assets, checks, jobs and schedule (no sensor, no resources)."""
        return task_definitions(self.task(str(context.path / "defs.yaml")))
