"""Offline demo only: the demo coaches finish Stripe onboarding on the stand-in, as a coach
would in the browser, so that mentees can book them at once.

Run by scripts/run.sh after the portal starts (and only when the offline stand-in plays
Stripe). A coach whose payouts are already set up is left alone, so running it again is safe.

    .venv/bin/python scripts/onboard_demo_coaches.py http://127.0.0.1:5000
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.cli import DEMO_COACHES, DEMO_PASSWORD  # noqa: E402

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def wait_until_up(portal: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{portal}/healthz", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"The portal at {portal} did not answer.")


def form_post(
    browser: requests.Session, page_url: str, action_url: str, data: dict
) -> requests.Response:
    token = TOKEN.search(browser.get(page_url, timeout=10).text)
    if token is None:
        raise RuntimeError(f"no form on {page_url}")
    return browser.post(
        action_url, data={"csrf_token": token.group(1), **data}, allow_redirects=False, timeout=30
    )


def onboard(portal: str, email: str, name: str) -> str:
    browser = requests.Session()
    browser.trust_env = False
    signed_in = form_post(
        browser,
        f"{portal}/account/login",
        f"{portal}/account/login",
        {"email": email, "password": DEMO_PASSWORD},
    )
    if signed_in.status_code != 303:
        return f"{email}: could not sign in (left as it is)"
    get_paid = f"{portal}/coach/earnings/get-paid"
    if "Payouts are on" in browser.get(get_paid, timeout=10).text:
        return f"{email}: payouts already on"
    started = form_post(browser, get_paid, get_paid, {"country": "US"})
    link = browser.get(started.headers["Location"], allow_redirects=False, timeout=10)
    step = urljoin(link.url, link.headers["Location"])
    first, last = name.split(" ", 1)
    if step.endswith("/personal"):
        personal = browser.post(
            step,
            data={"first_name": first, "last_name": last, "dob": "1980-01-02", "tos": "1"},
            allow_redirects=False,
            timeout=10,
        )
        step = urljoin(step, personal.headers["Location"])
    browser.post(
        step,
        data={"routing_number": "110000000", "account_number": "000123456789", "finish": "1"},
        allow_redirects=False,
        timeout=10,
    )
    return f"{email}: onboarded on the offline stand-in"


def main() -> None:
    portal = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:5000"
    wait_until_up(portal)
    for name, email, *_ in DEMO_COACHES:
        try:
            print(onboard(portal, email, name))
        except (requests.RequestException, RuntimeError, KeyError) as exc:
            print(f"{email}: onboarding skipped ({exc}); do it from the coach's Earnings page")


if __name__ == "__main__":
    main()
