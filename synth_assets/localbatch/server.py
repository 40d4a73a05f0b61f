"""Running the app under uvicorn: in the foreground (``serve``) or in a thread.

The listening socket is bound before uvicorn starts so that ``port=0`` (an ephemeral port)
works and the real address can be announced before the first request: connections that
arrive during start-up wait in the socket's backlog.
"""

import logging
import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from .app import create_app
from .config import ServerSettings

log = logging.getLogger(__name__)

READY_PREFIX = "localbatch serving "


class PortInUseError(OSError):
    """The host/port cannot be bound (another server is probably there)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"cannot listen on {host}:{port} ({exc.strerror}); is another localbatch server "
            "running? Stop it or choose another --port."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, sock: socket.socket) -> str:
    """The ``/v1`` base URL clients use for a bound socket."""
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


# Seconds an idle keep-alive connection stays open. Longer than clients keep theirs (httpx,
# under openai, drops an idle one after 5 s): with uvicorn's default, also 5 s, a request
# sent just as the server closed the connection got a reset instead of an answer.
KEEP_ALIVE_S = 75


def _uvicorn(settings: ServerSettings, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        access_log=False,  # a log line per poll would cost more than the poll
        timeout_keep_alive=KEEP_ALIVE_S,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(
    settings: ServerSettings,
    *,
    log_level: str = "warning",
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM finish the current chunk, then stop)."""
    sock = bind(settings.host, settings.port)
    server = _uvicorn(settings, log_level)
    if announce is not None:
        announce(base_url(settings.host, sock))
    server.run(sockets=[sock])


class ThreadServer:
    """The server in a background thread of this process (for embedding and quick tests)."""

    def __init__(self, settings: ServerSettings, *, log_level: str = "warning") -> None:
        self.settings = settings
        self._sock = bind(settings.host, settings.port)
        self.base_url = base_url(settings.host, self._sock)
        self._server = _uvicorn(settings, log_level)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; returns the base URL once the app has started."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the local Batch server did not start within {timeout} s")
            time.sleep(0.01)
        return self.base_url

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit, and wait for it (the runner finishes its step first)."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
