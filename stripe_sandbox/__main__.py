"""`python -m stripe_sandbox`: run the sandbox from the command line.

Flags override the `SANDBOX_*` environment variables, which override the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses

from .config import SandboxConfig
from .server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    base = SandboxConfig.from_env()
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--public-url", default=base.public_url)
    parser.add_argument("--webhook-url", default=base.webhook_url)
    parser.add_argument("--connect-webhook-url", default=base.connect_webhook_url)
    parser.add_argument("--webhook-secret", default=base.webhook_secret)
    parser.add_argument("--connect-webhook-secret", default=base.connect_webhook_secret)
    parser.add_argument("--available-after", type=int, default=base.available_after)
    parser.add_argument("--payout-arrival", type=int, default=base.payout_arrival)
    parser.add_argument(
        "--webhook-chaos",
        action="store_true",
        default=base.webhook_chaos,
        help="deliver events shuffled, some twice",
    )
    parser.add_argument(
        "--state-file",
        default=base.state_file,
        help="keep the state in this SQLite file across restarts",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        default=base.fresh,
        help="start empty, forgetting what the state file holds",
    )
    args = parser.parse_args(argv)
    config = dataclasses.replace(
        base,
        public_url=args.public_url,
        webhook_url=args.webhook_url,
        connect_webhook_url=args.connect_webhook_url,
        webhook_secret=args.webhook_secret,
        connect_webhook_secret=args.connect_webhook_secret,
        available_after=args.available_after,
        payout_arrival=args.payout_arrival,
        webhook_chaos=args.webhook_chaos,
        state_file=args.state_file,
        fresh=args.fresh,
    )
    server = SandboxServer(config, host=args.host, port=args.port, quiet=False)
    print(f"Stripe sandbox on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
