"""The sandbox's WSGI application.

Promises: `create_app(config)` builds a Flask app serving the `/v1` API, the hosted pages and
the `/_sandbox` controls over one `Sandbox` (at `app.extensions["stripe_sandbox"]`), and saves
its state after each request when it has a state file. Nothing runs at import time; background
threads start only with `Sandbox.start()` (the server does it).
"""

from __future__ import annotations

from flask import Flask, Response

from . import api, control, pages
from .config import SandboxConfig
from .errors import StripeError, resource_missing
from .sandbox import Sandbox


def create_app(config: SandboxConfig | None = None) -> Flask:
    app = Flask(__name__)
    sandbox = Sandbox(config or SandboxConfig())
    app.extensions["stripe_sandbox"] = sandbox
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(control.bp)

    @app.errorhandler(404)
    def not_found(exc: Exception) -> object:
        from flask import request

        if request.path.startswith("/v1/"):
            return api.error_response(
                StripeError(
                    404,
                    "invalid_request_error",
                    f"Unrecognized request URL ({request.method}: {request.path}).",
                )
            )
        return exc

    @app.errorhandler(405)
    def not_allowed(exc: Exception) -> object:
        from flask import request

        if request.path.startswith("/v1/"):
            return api.error_response(resource_missing("URL", request.path, None))
        return exc

    @app.after_request
    def persist(response: Response) -> Response:
        sandbox.persist()
        return response

    @app.get("/")
    def index() -> dict[str, str]:
        return {"service": "stripe_sandbox", "api_base": sandbox.config.public_url}

    return app
