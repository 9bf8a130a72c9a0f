"""Stripe-shaped API errors.

Promises: raising `StripeError` anywhere inside a request produces Stripe's error body
`{"error": {"type", "code", "message", "param", ...}}` with Stripe's HTTP status.
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the API answers with; `extra` adds fields such as decline_code or payment_intent."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code, param=param)


def resource_missing(kind: str, object_id: str, param: str | None = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def missing_param(param: str) -> StripeError:
    return invalid_request(f"Missing required param: {param}.", param, "parameter_missing")


def card_error(
    code: str,
    message: str,
    *,
    decline_code: str | None = None,
    param: str | None = None,
    **extra: Any,
) -> StripeError:
    if decline_code is not None:
        extra["decline_code"] = decline_code
    return StripeError(402, "card_error", message, code=code, param=param, **extra)
