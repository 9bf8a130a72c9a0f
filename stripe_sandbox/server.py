"""Serving the sandbox in a thread: for tests and for the portal's run command.

Promises: `SandboxServer(config).start()` binds werkzeug's threaded server (port 0 picks a free
loopback port), fills in `config.public_url` if it was empty, starts the webhook worker and the
clock ticker, and serves in a daemon thread; `.url`, `.app`, `.sandbox`, `.stop()`; usable as a
context manager.
"""

from __future__ import annotations

import threading
from types import TracebackType

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .config import SandboxConfig
from .sandbox import Sandbox


class _QuietHandler(WSGIRequestHandler):
    """Keeps test output clean: no line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.quiet = quiet
        self.app: Flask = create_app(self.config)
        self.sandbox: Sandbox = self.app.extensions["stripe_sandbox"]
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The sandbox server is not started.")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> SandboxServer:
        self._server = self._make_server()
        if not self.config.public_url:
            self.config.public_url = self.url
        self.sandbox.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stripe-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def _make_server(self) -> BaseWSGIServer:
        handler = _QuietHandler if self.quiet else None
        return make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)

    def serve_forever(self) -> None:
        """Serve in the calling thread (the command line uses this)."""
        self._server = self._make_server()
        if not self.config.public_url:
            self.config.public_url = self.url
        self.sandbox.start()
        try:
            self._server.serve_forever()
        finally:
            self.sandbox.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sandbox.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
