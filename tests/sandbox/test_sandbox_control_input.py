"""The stand-in's controls refuse what they cannot use, as Stripe refuses a bad parameter: a
400 with an `invalid_request_error` naming what was wrong, and nothing changed. A bad value
never answers 500, and never leaves the stand-in unable to go on (a clock moved past what a
date can hold failed every later request until a reset)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

# Every control that takes a body; the ids in paths name nothing, so each answer is about the
# body, or the missing object, never a 500.
CONTROLS = [
    "clock/advance",
    "webhooks/deliver",
    "webhooks/flush",
    "webhooks/config",
    "webhooks/chaos",
    "payouts/fail_next",
    "disputes/dp_nothing/close",
    "accounts/acct_nothing/require",
    "refunds/re_nothing/fail",
    "events/evt_nothing/redeliver",
]
NOT_AN_OBJECT = [[1, 2], "seconds", 5, True]
TEN_YEARS = 10 * 365 * 86400


def _post(server: Any, path: str, **kw: Any) -> requests.Response:
    return requests.post(f"{server.url}/_sandbox/{path}", timeout=30, **kw)


def _now(server: Any) -> int:
    return requests.get(f"{server.url}/_sandbox/clock", timeout=5).json()["offset"]


def _refused(response: requests.Response, param: str | None = None) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param is not None:
        assert error.get("param") == param


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=repr)
def test_a_json_body_that_is_not_an_object_is_refused(sandbox, control, body):
    _refused(_post(sandbox, control, json=body))


@pytest.mark.parametrize(
    "seconds",
    ["9" * 25, "1e999", "1e3", "NaN", "\x00", "²", "-5", "", "1.5", 10**12, 1e308, [1]],
    ids=repr,
)
def test_a_clock_advance_the_clock_cannot_make_is_refused_and_moves_nothing(sandbox, seconds):
    before = _now(sandbox)
    body = {"seconds": seconds}
    sent = _post(
        sandbox, "clock/advance", **({"json": body} if seconds != "\x00" else {"data": body})
    )
    if seconds == "":
        assert sent.status_code == 200  # no seconds: the clock stays where it is
    else:
        _refused(sent, "seconds")
    assert _now(sandbox) == before
    moved = _post(sandbox, "clock/advance", json={"seconds": 60})
    assert moved.status_code == 200
    assert _now(sandbox) == before + 60


def test_the_clock_moves_ten_years_and_no_more_in_one_step(sandbox):
    before = _now(sandbox)
    assert _post(sandbox, "clock/advance", json={"seconds": TEN_YEARS}).status_code == 200
    _refused(_post(sandbox, "clock/advance", json={"seconds": TEN_YEARS + 1}), "seconds")
    assert _now(sandbox) == before + TEN_YEARS


@pytest.mark.parametrize("timeout", ["abc", "NaN", "inf", "-1", "1e999", "\x00"], ids=repr)
def test_a_flush_timeout_that_is_not_a_number_of_seconds_is_refused(sandbox, timeout):
    _refused(_post(sandbox, "webhooks/flush", data={"timeout": timeout}), "timeout")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"deadline_in": "soon"}, "deadline_in"),
        ({"deadline_in": "9" * 25}, "deadline_in"),
        ({"currently_due": 5}, "currently_due"),
        ({"currently_due": "individual.id_number"}, "currently_due"),
    ],
    ids=repr,
)
def test_asking_an_account_for_more_with_odd_values_is_refused_and_changes_nothing(
    sandbox_tools, sandbox, body, param
):
    account = sandbox_tools.onboard()
    shown = requests.get(
        f"{sandbox.url}/v1/accounts/{account}",
        headers={"Authorization": "Bearer sk_test_x"},
        timeout=5,
    ).json()
    _refused(_post(sandbox, f"accounts/{account}/require", json=body), param)
    after = requests.get(
        f"{sandbox.url}/v1/accounts/{account}",
        headers={"Authorization": "Bearer sk_test_x"},
        timeout=5,
    ).json()
    assert after["requirements"] == shown["requirements"]
    assert after["payouts_enabled"] == shown["payouts_enabled"]


@pytest.mark.parametrize(
    "body",
    [{"webhook_secret": 5}, {"connect_webhook_secret": ["whsec"]}, {"webhook_url": 7}],
    ids=repr,
)
def test_webhook_settings_that_are_not_strings_are_refused(sandbox, body):
    _refused(_post(sandbox, "webhooks/config", json=body), next(iter(body)))
