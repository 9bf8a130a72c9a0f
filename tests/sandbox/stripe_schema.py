"""Checks a JSON object the sandbox returns against Stripe's published schema for it.

Two sources: the `stripe` library's types for the pinned API version (2026-10-28), and Stripe's
OpenAPI spec (2023-08-16, the newest complete one available offline; the schemas this check
reads are kept beside it, made by `python tests/sandbox/stripe_schema.py SPEC3.json.gz`). Where
they disagree, the library wins: its types follow the newer API.

- Present: every field the library types as always there (not `Optional`), and every field the
  spec marks `required` that the library still declares (a required field may be null).
- Types: each value against the library's annotation (str, int, bool, lists, dicts, list
  objects, nested objects, expandable ids), null only where it is `Optional`.
- Enums: a string the spec or the library enumerates is one of their values.

`problems(value)` walks a whole response (lists, expansions, events and their `data.object`)
and answers a list of readable problems, empty when the value is what Stripe would send.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, ForwardRef

import stripe
from stripe._list_object import ListObject
from stripe._stripe_object import StripeObject

SPEC = Path(__file__).with_name("stripe_spec_2023-08-16.json")
"""The spec's schemas for the objects the sandbox returns, trimmed to what the check reads."""
ROOTS = (
    "account", "account_link", "application_fee", "balance", "balance_transaction",
    "bank_account", "billing_portal.session", "capability", "charge", "checkout.session",
    "customer", "dispute", "event", "fee_refund", "invoice", "item", "line_item", "login_link",
    "payment_intent", "payment_method", "payout", "plan", "price", "product", "refund",
    "setup_intent", "subscription", "subscription_item", "transfer", "transfer_reversal",
)  # fmt: skip
KEPT = ("$ref", "anyOf", "enum", "items", "properties", "required", "type")
"""What the check reads; a property is kept only if it names an enum or another schema."""


@cache
def _spec_schemas() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


def trim_spec(full_spec: Path) -> None:
    """Rewrite SPEC from Stripe's full OpenAPI spec (gzipped JSON): the schemas ROOTS reach."""
    with gzip.open(full_spec) as handle:
        schemas = json.load(handle)["components"]["schemas"]
    kept: dict[str, Any] = {}
    waiting = list(ROOTS)
    while waiting:
        name = waiting.pop()
        if name in kept or name not in schemas:
            continue
        kept[name] = _trimmed(schemas[name])
        waiting += re.findall(r"#/components/schemas/([\w.]+)", json.dumps(kept[name]))
    lines = [f"{json.dumps(n)}: {json.dumps(kept[n], sort_keys=True)}" for n in sorted(kept)]
    SPEC.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def _trimmed(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: (
                {
                    name: _trimmed(v)
                    for name, v in schema[k].items()
                    if any(mark in json.dumps(v) for mark in ('"$ref"', '"enum"'))
                }
                if k == "properties"
                else _trimmed(schema[k])
            )
            for k in schema
            if k in KEPT
        }
    if isinstance(schema, list):
        return [_trimmed(item) for item in schema]
    return schema


@cache
def classes_by_object() -> dict[str, type[StripeObject]]:
    """Every resource class of the library by its `object` value."""
    found: dict[str, type[StripeObject]] = {}
    for module in (stripe, stripe.checkout, stripe.billing_portal):
        for name in [*dir(module), *getattr(module, "_import_map", {})]:
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, StripeObject):
                object_name = getattr(cls, "OBJECT_NAME", None)
                if isinstance(object_name, str):
                    found.setdefault(object_name, cls)
    return found


def _annotations(cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__annotations__", {}))
    return {
        k: v
        for k, v in merged.items()
        if typing.get_origin(v) is not typing.ClassVar and not k.startswith("_")
    }


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _resolve(annotation: Any) -> Any:
    if isinstance(annotation, ForwardRef):
        return getattr(stripe, annotation.__forward_arg__, Any)
    if isinstance(annotation, str):
        return getattr(stripe, annotation, Any)
    return annotation


def _spec_object(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The object schema behind a property's schema ($ref, nullable anyOf, expandable anyOf)."""
    seen = 0
    while schema is not None and seen < 5:
        seen += 1
        if "$ref" in schema:
            schema = _spec_schemas().get(schema["$ref"].rsplit("/", 1)[-1])
            continue
        arms = [a for a in schema.get("anyOf", []) if a.get("type") != "string" or "enum" in a]
        if len(arms) == 1:
            schema = arms[0]
            continue
        break
    return schema if schema is not None and "properties" in schema else None


def _spec_enum(schema: dict[str, Any] | None) -> list[str] | None:
    if schema is None:
        return None
    if "enum" in schema:
        return schema["enum"]
    for arm in schema.get("anyOf", []):
        if "enum" in arm and arm.get("type") == "string":
            return arm["enum"]
    return None


def _library_enum(annotation: Any) -> set[str]:
    found: set[str] = set()
    if typing.get_origin(annotation) is typing.Literal:
        found |= {a for a in typing.get_args(annotation) if isinstance(a, str)}
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Literal:
            found |= {a for a in typing.get_args(arg) if isinstance(a, str)}
    return found


def problems(value: Any, path: str = "") -> list[str]:
    """Everything wrong with a whole response or event, as Stripe's schema sees it."""
    path = path or str(value.get("object") if isinstance(value, dict) else "value")
    return _check(value, Any, None, path)


def _check(value: Any, annotation: Any, spec: dict[str, Any] | None, path: str) -> list[str]:
    annotation = _resolve(annotation)
    if isinstance(value, dict) and isinstance(value.get("object"), str):
        if value["object"] == "list":
            return [
                p
                for i, item in enumerate(value.get("data", []))
                for p in _check(item, _item_of(annotation), None, f"{path}.data[{i}]")
            ]
        cls = classes_by_object().get(value["object"])
        if cls is not None:
            return _check_object(value, cls, _spec_schemas().get(value["object"]), path)
    if annotation is Any:
        return []
    if value is None:
        return [] if _optional(annotation) else [f"{path} is null but is never null at Stripe"]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        results = [_check(value, arm, spec, path) for arm in arms]
        return [] if any(not r for r in results) else min(results, key=len)
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        return [] if value in allowed else [f"{path} is {value!r}, not one of {list(allowed)}"]
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            return [f"{path} is {type(value).__name__}, not a list"]
        (item,) = typing.get_args(annotation) or (Any,)
        item_spec = (spec or {}).get("items")
        return [p for i, v in enumerate(value) for p in _check(v, item, item_spec, f"{path}[{i}]")]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(value, dict) else [f"{path} is {type(value).__name__}, not a dict"]
    if isinstance(annotation, type) and issubclass(annotation, ListObject):
        return _check(value, Any, None, path)
    if origin is not None and isinstance(origin, type) and issubclass(origin, ListObject):
        if not isinstance(value, dict) or value.get("object") != "list":
            return [f"{path} is not a list object"]
        return _check(value, annotation, None, path)
    if isinstance(annotation, type) and issubclass(annotation, StripeObject):
        if not isinstance(value, dict):
            return [f"{path} is {type(value).__name__}, not an object"]
        return _check_object(value, annotation, _spec_object(spec), path)
    return _check_scalar(value, annotation, spec, path)


def _item_of(annotation: Any) -> Any:
    for arg in typing.get_args(annotation) or ():
        origin = typing.get_origin(arg)
        if origin is not None and isinstance(origin, type) and issubclass(origin, ListObject):
            return typing.get_args(arg)[0]
    if typing.get_origin(annotation) is not None:
        args = typing.get_args(annotation)
        if args and not _optional(annotation):
            return args[0]
    return Any


def _check_scalar(value: Any, annotation: Any, spec: dict[str, Any] | None, path: str) -> list[str]:
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif annotation is str:
        ok = isinstance(value, str)
    else:
        return []
    if not ok:
        return [f"{path} is {type(value).__name__} {value!r}, not {annotation.__name__}"]
    return []


def _check_object(
    value: dict[str, Any], cls: type, spec: dict[str, Any] | None, path: str
) -> list[str]:
    declared = _annotations(cls)
    always = {k for k, a in declared.items() if not _optional(a) and k != "deleted"}
    spec_required = set((spec or {}).get("required", [])) & set(declared)
    found = [f"{path}.{k} is missing" for k in sorted((always | spec_required) - set(value))]
    properties = (spec or {}).get("properties", {})
    for key, child in value.items():
        if key not in declared:
            found.append(f"{path}.{key} is not a field of {cls.__qualname__}")
            continue
        if key in ("metadata", "previous_attributes"):
            continue
        child_spec = properties.get(key)
        found += _check(child, declared[key], child_spec, f"{path}.{key}")
        enum = _spec_enum(child_spec)
        unknown = isinstance(child, str) and enum and child not in enum
        if unknown and child not in _library_enum(declared[key]):
            found.append(f"{path}.{key} is {child!r}, not one of {enum}")
    return found


if __name__ == "__main__":
    trim_spec(Path(sys.argv[1]))
