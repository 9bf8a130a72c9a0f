"""Settings, read from the environment (and a `.env` file beside the project, if present).

One class per environment; `PORTAL_ENV` picks it. Every variable is listed in the README.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused in production
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_platform"  # noqa: S105 - offline stand-in only
SANDBOX_CONNECT_WEBHOOK_SECRET = "whsec_sandbox_connect"  # noqa: S105 - offline stand-in only


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def web_workers() -> int:
    """How many gunicorn workers serve the portal (gunicorn.conf.py reads it from here)."""
    return int(os.environ.get("GUNICORN_WORKERS", (os.cpu_count() or 1) * 2 + 1))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    ENV_NAME = "development"
    DEBUG = False
    TESTING = False

    SECRET_KEY = DEFAULT_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{PROJECT_ROOT / 'instance' / 'portal.db'}"
    # No pool_pre_ping: database.replace_closed_connections checks with fewer round trips.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SEND_HSTS = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login session
    WTF_CSRF_SSL_STRICT = True

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"  # failed sign-ins only
    SIGNUP_RATE_LIMIT = "5 per minute;30 per hour"
    PASSWORD_CHANGE_RATE_LIMIT = "5 per minute"  # noqa: S105 - a rate; wrong current passwords only

    STRIPE_SECRET_KEY = ""
    STRIPE_PUBLISHABLE_KEY = ""
    STRIPE_API_BASE = ""  # empty: Stripe itself
    STRIPE_WEBHOOK_SECRET = ""
    STRIPE_CONNECT_WEBHOOK_SECRET = ""
    STRIPE_MAX_NETWORK_RETRIES = 2
    # Where the browser is sent for Checkout, onboarding and the billing portal (CSP form-action).
    STRIPE_HOSTED_ORIGINS = (
        "https://checkout.stripe.com https://connect.stripe.com https://billing.stripe.com"
    )
    # Set by the run command when the offline stand-in plays Stripe: its hosted pages' origin.
    STRIPE_SANDBOX_PUBLIC_URL = ""
    PLATFORM_COUNTRY = "US"
    # Seconds a browser or CDN may keep an anonymous directory or coach page (portal/caching.py).
    PUBLIC_MAX_AGE = 60
    MEMBERSHIP_DISCOUNT_PERCENTAGE = "10"
    # What a lost dispute does to the coach's share (portal/disputes.py): absorb (the platform
    # bears it), recover (an admin confirms, seeing the amount) or recover_automatically.
    DISPUTE_LOST_COACH_SHARE = "recover"
    # Stripe's price of an instant payout, shown to the coach before confirming (Stripe has no
    # call that quotes it): a percentage of the amount, at least the minimum. Keep it equal to
    # the platform's Stripe pricing; the ledger records the fee Stripe actually charged.
    INSTANT_PAYOUT_FEE_PERCENT = "1.00"
    INSTANT_PAYOUT_FEE_MINIMUM = "0.50"
    # The membership plan: amounts in config, prices made at Stripe on first need (found again by
    # lookup key), unless the ids of prices made elsewhere are given.
    MEMBERSHIP_PRODUCT_NAME = "Coaching portal membership"
    MEMBERSHIP_CURRENCY = "USD"
    MEMBERSHIP_MONTHLY_AMOUNT = "19.00"
    MEMBERSHIP_YEARLY_AMOUNT = "190.00"
    MEMBERSHIP_MONTHLY_PRICE_ID = ""
    MEMBERSHIP_YEARLY_PRICE_ID = ""

    # The task queue (Huey): Redis when REDIS_URL is set (consumers on many machines share it),
    # else a SQLite file here. Scheduled times are in PLATFORM_TIMEZONE.
    REDIS_URL = ""
    TASKS_SQLITE_FILE = str(PROJECT_ROOT / "instance" / "tasks.db")
    TASKS_IMMEDIATE = False  # run a queued task at once, in the caller's thread (tests)
    PLATFORM_TIMEZONE = "UTC"
    JOB_PAYOUTS_AT = "06:00"
    JOB_RECONCILE_AT = "02:00"
    JOB_LEDGER_VERIFY_AT = "03:00"
    JOB_REPLAY_MISSED_EVERY = "15"  # minutes
    JOB_RELEASE_HOLDS_EVERY = "1"  # minutes
    JOB_REMINDERS_EVERY = "15"  # minutes
    JOB_RETRIES = 3
    JOB_RETRY_DELAY = 60  # seconds before the first retry; doubles for each next one

    # Email (Flask-Mailman): each message is an .eml file under MAIL_FILE_PATH unless
    # MAIL_BACKEND is "smtp" (production's default). Links in messages start with PORTAL_URL.
    PORTAL_URL = "http://127.0.0.1:5000"
    MAIL_BACKEND = "portal.mail_files.EmailBackend"
    MAIL_FILE_PATH = str(PROJECT_ROOT / "instance" / "mail")
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_TIMEOUT = 30
    MAIL_DEFAULT_SENDER = "Coaching portal <no-reply@localhost>"
    OUTBOX_MAX_ATTEMPTS = 8
    OUTBOX_RETRY_DELAY = 60  # seconds before the second try; doubles for each next one
    # Fernet keys, newest first, that encrypt each person's TOTP key (portal/sealed.py); empty:
    # one derived from SECRET_KEY. Production keeps them apart from the database's backups.
    TWO_FACTOR_KEYS = ""

    @classmethod
    def from_environment(cls) -> dict:
        """The settings this class names, each overridden by its environment variable."""
        settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}
        for key in (
            "SECRET_KEY",
            "TWO_FACTOR_KEYS",
            "STRIPE_SECRET_KEY",
            "STRIPE_PUBLISHABLE_KEY",
            "STRIPE_API_BASE",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_CONNECT_WEBHOOK_SECRET",
            "STRIPE_HOSTED_ORIGINS",
            "RATELIMIT_STORAGE_URI",
            "LOGIN_RATE_LIMIT",
            "SIGNUP_RATE_LIMIT",
            "PASSWORD_CHANGE_RATE_LIMIT",
            "PLATFORM_COUNTRY",
            "MEMBERSHIP_DISCOUNT_PERCENTAGE",
            "DISPUTE_LOST_COACH_SHARE",
            "INSTANT_PAYOUT_FEE_PERCENT",
            "INSTANT_PAYOUT_FEE_MINIMUM",
            "MEMBERSHIP_PRODUCT_NAME",
            "MEMBERSHIP_CURRENCY",
            "MEMBERSHIP_MONTHLY_AMOUNT",
            "MEMBERSHIP_YEARLY_AMOUNT",
            "MEMBERSHIP_MONTHLY_PRICE_ID",
            "MEMBERSHIP_YEARLY_PRICE_ID",
            "STRIPE_SANDBOX_PUBLIC_URL",
            "REDIS_URL",
            "TASKS_SQLITE_FILE",
            "PLATFORM_TIMEZONE",
            "JOB_PAYOUTS_AT",
            "JOB_RECONCILE_AT",
            "JOB_LEDGER_VERIFY_AT",
            "JOB_REPLAY_MISSED_EVERY",
            "JOB_RELEASE_HOLDS_EVERY",
            "JOB_REMINDERS_EVERY",
            "PORTAL_URL",
            "MAIL_BACKEND",
            "MAIL_FILE_PATH",
            "MAIL_SERVER",
            "MAIL_USERNAME",
            "MAIL_PASSWORD",
            "MAIL_DEFAULT_SENDER",
        ):
            if key in os.environ:
                settings[key] = os.environ[key]
        if "DATABASE_URL" in os.environ:
            settings["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(
                os.environ["DATABASE_URL"]
            )
        settings["SESSION_COOKIE_SECURE"] = _env_bool(
            "SESSION_COOKIE_SECURE", settings["SESSION_COOKIE_SECURE"]
        )
        settings["REMEMBER_COOKIE_SECURE"] = settings["SESSION_COOKIE_SECURE"]
        for key in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
            settings[key] = _env_bool(key, settings[key])
        for key in (
            "JOB_RETRIES",
            "JOB_RETRY_DELAY",
            "MAIL_PORT",
            "MAIL_TIMEOUT",
            "OUTBOX_MAX_ATTEMPTS",
            "OUTBOX_RETRY_DELAY",
            "PUBLIC_MAX_AGE",
        ):
            if key in os.environ:
                settings[key] = int(os.environ[key])
        settings["WEB_WORKERS"] = web_workers()
        if "STRIPE_MAX_NETWORK_RETRIES" in os.environ:
            settings["STRIPE_MAX_NETWORK_RETRIES"] = int(os.environ["STRIPE_MAX_NETWORK_RETRIES"])
        return settings


class DevelopmentConfig(Config):
    ENV_NAME = "development"


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key"  # noqa: S105
    STRIPE_WEBHOOK_SECRET = "whsec_test_platform"  # noqa: S105
    STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_test_connect"  # noqa: S105
    STRIPE_MAX_NETWORK_RETRIES = 0
    TASKS_IMMEDIATE = True


class ProductionConfig(Config):
    ENV_NAME = "production"
    MAIL_BACKEND = "smtp"
    MAIL_USE_TLS = True
    MAIL_PORT = 587
    SESSION_COOKIE_SECURE = True
    SEND_HSTS = True


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def _normalise_database_url(url: str) -> str:
    # psycopg 3 is the driver; accept the URLs people usually write.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(env_name: str | None = None) -> dict:
    """Settings for the named environment (default: `PORTAL_ENV`, else development)."""
    load_dotenv(PROJECT_ROOT / ".env")
    name = env_name or _env("PORTAL_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"PORTAL_ENV={name!r} is not one of {', '.join(CONFIGS)}.")
    return CONFIGS[name].from_environment()


def _fernet_keys(listed: str) -> bool:
    """Whether `listed` is a comma-separated list of one or more valid Fernet keys."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in listed.split(",") if key.strip()]
    try:
        return bool(keys) and all(Fernet(key) for key in keys)
    except ValueError:
        return False


class UnsafeConfiguration(RuntimeError):
    """Production settings that would put money or accounts at risk."""


def check_production_settings(settings: dict) -> None:
    """Refuse to start in production with settings that are only fit for a laptop."""
    problems = []
    if settings["SECRET_KEY"] in (DEFAULT_SECRET_KEY, "") or len(settings["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
    if not settings["STRIPE_SECRET_KEY"]:
        problems.append("STRIPE_SECRET_KEY must be set")
    if not settings["STRIPE_WEBHOOK_SECRET"]:
        problems.append("STRIPE_WEBHOOK_SECRET must be set")
    if not settings["STRIPE_CONNECT_WEBHOOK_SECRET"]:
        problems.append("STRIPE_CONNECT_WEBHOOK_SECRET must be set")
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        problems.append("DATABASE_URL must point at PostgreSQL, not SQLite")
    if settings.get("DEBUG"):
        problems.append("debug must be off")
    if settings.get("TWO_FACTOR_KEYS") and not _fernet_keys(settings["TWO_FACTOR_KEYS"]):
        problems.append(
            "TWO_FACTOR_KEYS must list Fernet keys, newest first (make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`)"
        )
    if settings["RATELIMIT_STORAGE_URI"].startswith("memory://") and settings["WEB_WORKERS"] > 1:
        # Each worker would count on its own: N workers allow N times the sign-in attempts.
        problems.append(
            f"RATELIMIT_STORAGE_URI must be a store all {settings['WEB_WORKERS']} workers share "
            "(redis://host:6379), not memory://"
        )
    if problems:
        raise UnsafeConfiguration("Refusing to start in production: " + "; ".join(problems) + ".")
