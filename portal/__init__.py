"""The coaching portal: `create_app` builds the Flask application. Nothing happens at import."""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal.config import PROJECT_ROOT, check_production_settings, load_settings
from portal.observability import configure_logging


def create_app(overrides: dict[str, Any] | None = None, env_name: str | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_mapping(load_settings(env_name))
    app.config.from_mapping(overrides or {})
    app.config["FORM_ACTION_ORIGINS"] = _form_action_origins(app.config)
    if app.config["ENV_NAME"] == "production":
        check_production_settings({**app.config, "DEBUG": app.debug})
    configure_logging(app)

    _init_extensions(app)
    _register_blueprints(app)
    _init_throttles(app)
    _register_cli(app)
    _init_tasks(app)
    return app


def _form_action_origins(config: dict[str, Any]) -> list[str]:
    origins = config["STRIPE_HOSTED_ORIGINS"].split()
    if config.get("STRIPE_SANDBOX_PUBLIC_URL"):
        origins.append(config["STRIPE_SANDBOX_PUBLIC_URL"].rstrip("/"))
    return origins


def _init_extensions(app: Flask) -> None:
    from portal import caching, listings
    from portal.database import configure_engine
    from portal.errors import init_error_pages
    from portal.extensions import (
        csrf,
        db,
        htmx,
        limiter,
        login_manager,
        migrate,
    )
    from portal.outbox import init_outbox
    from portal.parsing import init_input_checks
    from portal.security import init_security
    from portal.session_cookie import init_session_cookie
    from portal.templating import init_templating

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    init_session_cookie(app)
    init_security(app)  # the audience check runs before every other request hook
    init_input_checks(app)
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    init_error_pages(app)
    init_templating(app)
    init_outbox(app)
    caching.init_app(app)
    listings.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from portal.accounts.views import bp as accounts_bp
    from portal.admin.views import bp as admin_bp
    from portal.billing.views import bp as billing_bp
    from portal.coaches.views import bp as coaches_bp
    from portal.health import bp as health_bp
    from portal.payouts.views import bp as payouts_bp
    from portal.webhooks.views import bp as webhooks_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(coaches_bp)
    app.register_blueprint(billing_bp)
    app.register_blueprint(payouts_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)


def _init_throttles(app: Flask) -> None:
    from portal.throttles import init_throttles

    init_throttles(app)


def _init_tasks(app: Flask) -> None:
    from portal.tasks import init_tasks

    init_tasks(app)


def _register_cli(app: Flask) -> None:
    from portal.cli import register_commands

    register_commands(app)
