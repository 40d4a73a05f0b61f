"""``localbatch`` commands (the lead mounts the group under ``synth``; ``python -m
synth_assets.localbatch serve`` runs it standalone)."""

import ipaddress
import logging
import sys
from pathlib import Path

import click

from synth_assets.batch import LOCAL_HOST, LOCAL_PORT

from . import server as _server
from .config import DATA_DIR_ENV, DEFAULT_DATA_DIR, Responder, ServerSettings
from .faults import Faults, FaultSpecError

API_KEY_ENV = "LOCALBATCH_API_KEY"
FORWARD_API_KEY_ENV = "LOCALBATCH_FORWARD_API_KEY"
_DEFAULTS = ServerSettings()


@click.group(name="localbatch")
def localbatch() -> None:
    """The local OpenAI-compatible Batch API server (Files + Batches on loopback)."""


@localbatch.command()
@click.option("--host", default=LOCAL_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=LOCAL_PORT, show_default=True, type=int, help="Port (0: any free port)."
)
@click.option(
    "--data-dir",
    envvar=DATA_DIR_ENV,
    default=str(DEFAULT_DATA_DIR),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where files and batch state live (also ${DATA_DIR_ENV}).",
)
@click.option(
    "--api-key",
    envvar=API_KEY_ENV,
    default=None,
    help=f"Require 'Authorization: Bearer <key>' (better: set ${API_KEY_ENV}).",
)
@click.option(
    "--max-upload-bytes",
    default=_DEFAULTS.max_upload_bytes,
    show_default=True,
    type=int,
    help="Largest upload accepted (413 beyond).",
)
@click.option(
    "--max-requests",
    default=_DEFAULTS.max_requests,
    show_default=True,
    type=int,
    help="Requests allowed in one input file.",
)
@click.option(
    "--max-file-bytes",
    default=_DEFAULTS.max_file_bytes,
    show_default=True,
    type=int,
    help="Bytes allowed in one input file.",
)
@click.option(
    "--responder",
    type=click.Choice([r.value for r in Responder]),
    default=Responder.SYNTHETIC.value,
    show_default=True,
    help="synthetic: schema-valid answers, no model; forward: ask --forward-url.",
)
@click.option(
    "--forward-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."
)
@click.option(
    "--forward-api-key",
    envvar=FORWARD_API_KEY_ENV,
    default=None,
    help=f"Key for the forward URL (better: set ${FORWARD_API_KEY_ENV}).",
)
@click.option("--forward-model", default=None, help="Model name to send instead of the file's.")
@click.option(
    "--forward-concurrency",
    default=_DEFAULTS.forward_concurrency,
    show_default=True,
    type=int,
    help="Requests in flight to the forward URL at once.",
)
@click.option(
    "--forward-retries",
    default=_DEFAULTS.forward_retries,
    show_default=True,
    type=int,
    help="Retries of a 429/5xx/connection failure before it is recorded.",
)
@click.option(
    "--forward-timeout-s",
    default=_DEFAULTS.forward_timeout_s,
    show_default=True,
    type=float,
    help="Timeout of one forwarded request.",
)
@click.option("--faults", default="", help="Fault rates, e.g. 'http_429=0.02,invalid_json=0.01'.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of answers and faults.")
@click.option(
    "--chunk-size",
    default=_DEFAULTS.chunk_size,
    show_default=True,
    type=int,
    help="Requests answered (and committed) per step.",
)
@click.option("--delay-s", default=0.0, show_default=True, type=float, help="Pause between chunks.")
@click.option(
    "--expire-after-s",
    default=_DEFAULTS.expire_after_s,
    show_default=True,
    type=float,
    help="Completion window; unfinished requests then expire.",
)
@click.option(
    "--poll-interval-s",
    default=_DEFAULTS.poll_interval_s,
    show_default=True,
    type=float,
    help="How often an idle server looks for batches created by other processes.",
)
@click.option(
    "--lease-s",
    default=_DEFAULTS.lease_s,
    show_default=True,
    type=float,
    help="How long a batch stays claimed by a server that stopped answering.",
)
@click.option(
    "--shuffle/--no-shuffle",
    default=True,
    show_default=True,
    help="Shuffle output lines (as OpenAI, output order is not input order).",
)
@click.option(
    "--max-answer-bytes",
    default=_DEFAULTS.max_answer_bytes,
    show_default=True,
    type=int,
    help="Largest synthetic answer; a request asking for more gets a 400 line.",
)
@click.option(
    "--answer-timeout-s",
    default=_DEFAULTS.answer_timeout_s,
    show_default=True,
    type=float,
    help="Time allowed to make one synthetic answer; past it the request gets a 400 line.",
)
@click.option(
    "--max-step-s",
    default=_DEFAULTS.max_step_s,
    show_default=True,
    type=float,
    help="How long one synthetic batch holds the runner before other batches get a turn.",
)
@click.option(
    "--body-timeout-s",
    default=_DEFAULTS.body_timeout_s,
    show_default=True,
    type=float,
    help="Silence allowed while a request body arrives; then 408 and the upload is dropped.",
)
@click.option(
    "--enqueued-token-limit",
    type=int,
    default=None,
    help="Enqueued input tokens allowed per model (a request's bytes / 4); a batch over it "
    "ends failed with token_limit_exceeded, as on OpenAI. Default: unlimited.",
)
@click.option(
    "--max-batches-per-hour",
    type=int,
    default=None,
    help="Batch creations allowed per hour; beyond it create answers 429. Default: unlimited.",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(log_level: str, **options: object) -> None:
    """Serve the Files and Batches API until interrupted."""
    try:
        Faults.parse(str(options["faults"]), int(options["seed"]))  # type: ignore[call-overload]
        settings = ServerSettings(**options)  # type: ignore[arg-type]
    except (FaultSpecError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if not _is_loopback(settings.host) and not settings.api_key:
        click.echo(
            f"warning: listening on {settings.host} without an API key; anyone who can reach "
            f"it can use it (set ${API_KEY_ENV}).",
            err=True,
        )

    def announce(url: str) -> None:
        # The first stdout line says where the server is; tools (serve_in_background) read it.
        click.echo(f"{_server.READY_PREFIX}{url} (data dir: {settings.data_dir})")
        sys.stdout.flush()

    try:
        _server.serve(settings, log_level=log_level, announce=announce)
    except _server.PortInUseError as exc:
        raise click.ClickException(str(exc)) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
