"""An offline, stateful stand-in for the part of the Stripe API the portal uses.

The real `stripe` library talks to it (api base pointed at the sandbox, any `sk_test_` key); it
serves its own Checkout, billing portal, Connect onboarding and Express dashboard pages and sends
signed webhooks. The portal never imports this package: it only talks HTTP to it.
"""

from .app import create_app
from .config import SandboxConfig

__all__ = ["SandboxConfig", "create_app"]
