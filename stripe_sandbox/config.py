"""Settings of one sandbox: where it is reachable, where webhooks go, how time behaves.

Promises: `SandboxConfig` is a plain dataclass; `SandboxConfig.from_env()` reads the `SANDBOX_*`
environment variables documented in README.md, and anything not set keeps its default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass
class SandboxConfig:
    """Everything a sandbox needs to know; all fields have working defaults."""

    public_url: str = ""
    """Base URL the browser uses for hosted pages. Empty: the URL the server is bound to."""
    webhook_url: str | None = None
    """Where platform events are POSTed (None: events are recorded, not sent)."""
    connect_webhook_url: str | None = None
    """Where connected-account events are POSTed (None: events are recorded, not sent)."""
    # Test-only signing secrets: the sandbox never sees a real one.
    webhook_secret: str = "whsec_sandbox_platform"  # noqa: S105
    connect_webhook_secret: str = "whsec_sandbox_connect"  # noqa: S105
    available_after: int = 2 * 24 * 3600
    """Seconds before a payment's funds move from pending to available."""
    payout_arrival: int = 2 * 24 * 3600
    """Seconds before a standard payout arrives (paid or failed)."""
    dispute_decision_after: int = 14 * 24 * 3600
    """Seconds after a dispute opens when the bank decides it: won if evidence was submitted."""
    webhook_max_attempts: int = 4
    """Delivery attempts per event before giving up."""
    webhook_retry_delay: float = 0.2
    """Seconds before the first retry; doubles after each failed attempt."""
    webhook_timeout: float = 10.0
    """Seconds to wait for the receiver to answer one delivery."""
    tick_interval: float = 1.0
    """Seconds between background clock checks (0 disables the ticker)."""
    webhook_chaos: bool = False
    """Deliver events in a shuffled order, some of them twice (Stripe promises neither)."""
    webhook_chaos_window: float = 0.3
    """Under chaos, each delivery waits a random time up to this many seconds."""
    state_file: str | None = None
    """A SQLite file that keeps the sandbox's state across restarts (None: memory only)."""
    fresh: bool = False
    """Start empty even if `state_file` holds a saved state (which the next save replaces)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SandboxConfig:
        """Build a config from `SANDBOX_<FIELD>` variables (e.g. SANDBOX_WEBHOOK_URL)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get("SANDBOX_" + field.name.upper())
            if raw is None or raw == "":
                continue
            default = getattr(cls, field.name, None)
            if isinstance(default, bool):
                values[field.name] = raw.lower() in {"1", "true", "yes"}
            elif isinstance(default, int):
                values[field.name] = int(raw)
            elif isinstance(default, float):
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        return cls(**values)  # type: ignore[arg-type]
