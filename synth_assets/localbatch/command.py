"""``localbatch`` commands (the lead mounts the group under ``synth``; ``python -m
synth_assets.localbatch serve`` runs it standalone)."""

import ipaddress
import logging
import sys
import types
from collections.abc import Callable
from enum import Enum
from typing import Any, Union, get_args, get_origin

import click
from pydantic import ValidationError


from . import server as _server
from .config import (
    API_KEY_ENV,
    DATA_DIR_ENV,
    ServerSettings,
    env_name,
    flag_name,
    settings_error,
)


@click.group(name="localbatch")
def localbatch() -> None:
    """The local OpenAI-compatible Batch API server (Files + Batches on loopback)."""


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One flag per :class:`ServerSettings` field, its help the field's description.

    A flag left out is None here, so the variable (``LOCALBATCH_*``) or the default applies:
    the settings class alone decides, and checks, every value.
    """
    for name, field in reversed(ServerSettings.model_fields.items()):
        kind = _plain(field.annotation)
        env = DATA_DIR_ENV if name == "data_dir" else env_name(name)
        secret = "api_key" in name
        default = "" if secret or field.default in (None, "") else f"; default: {field.default}"
        help_text = f"{field.description} [${env}{default}]"
        flag = flag_name(name)
        if kind is bool:
            option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
        elif isinstance(kind, type) and issubclass(kind, Enum):
            choice = click.Choice([member.value for member in kind])
            option = click.option(flag, name, type=choice, default=None, help=help_text)
        else:
            # Text as given: pydantic converts it, and names the flag when it cannot.
            option = click.option(flag, name, default=None, metavar=_metavar(kind), help=help_text)
        command = option(command)
    return command


def _plain(annotation: Any) -> Any:
    """``int | None`` -> ``int``; ``Annotated[int, ...]`` is already ``int`` here."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(arg for arg in get_args(annotation) if arg is not type(None))
    return annotation


def _metavar(kind: Any) -> str:
    return {int: "INTEGER", float: "FLOAT"}.get(kind, "TEXT")


@localbatch.command()
@_settings_options
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(log_level: str, **options: object) -> None:
    """Serve the Files and Batches API until interrupted."""
    given = {name: value for name, value in options.items() if value is not None}
    try:
        settings = ServerSettings(**given)
    except ValidationError as exc:
        raise click.UsageError(settings_error(exc)) from None
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
