"""Request parameters: decoding Stripe's form encoding, checking names, reading values.

Promises: `decode_form` turns `a[b][c]=v` and `a[0][x]=v` pairs into nested dicts and lists
exactly as the `stripe` library encodes them; `check_names` answers an unknown parameter the way
Stripe does (400, "Received unknown parameter: card[foo]"), using the TypedDicts shipped in
`stripe.params`; the `get_*` helpers read and coerce single values with Stripe's errors.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Union

import stripe.params
import typing_extensions
from stripe import _request_options

from .errors import invalid_request, missing_param

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
_FREE_MAPPINGS = {"metadata"}
"""Keys whose children are names chosen by the caller, never list indexes."""


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested params from flat `key[sub][0]=value` pairs; `[]` appends to a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in parts[:-1]:
            if part == "":
                part = str(len(node))
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid_request(f"Invalid parameter: {key}", head)
        last = parts[-1] if parts[-1] != "" else str(len(node))
        node[last] = value
    return _lists_from_indexes(root, free=False)


def _lists_from_indexes(node: Any, free: bool) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists_from_indexes(v, k in _FREE_MAPPINGS) for k, v in node.items()}
    if not free and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


# -- names ---------------------------------------------------------------------------------------
_REQUEST_OPTION_NAMES = set(_request_options.RequestOptions.__annotations__)
_HINT_NAMESPACE = {**vars(_request_options), "StripeContext": object}


def params_class(name: str) -> type:
    """The TypedDict named like 'PaymentIntentCreateParams' or 'checkout.SessionCreateParams'."""
    module: Any = stripe.params
    *path, cls_name = name.split(".")
    for part in path:
        module = getattr(module, part)
    return getattr(module, cls_name)


@functools.cache
def _hints(schema: type) -> dict[str, Any]:
    hints = typing.get_type_hints(schema, localns=_HINT_NAMESPACE)
    return {k: v for k, v in hints.items() if k not in _REQUEST_OPTION_NAMES}


def _shapes(tp: Any) -> tuple[list[type], list[Any], bool]:
    """(TypedDicts a dict value may follow, element types a list may hold, free mapping allowed)."""
    dict_schemas: list[type] = []
    list_items: list[Any] = []
    free = False
    origin = typing.get_origin(tp)
    if origin is Union:
        for arg in typing.get_args(tp):
            d, li, f = _shapes(arg)
            dict_schemas += d
            list_items += li
            free = free or f
    elif origin is list:
        list_items.extend(typing.get_args(tp))
    elif typing_extensions.is_typeddict(tp):
        dict_schemas.append(tp)
    elif origin in (dict, Mapping) or tp is dict or tp is Any or origin is not None:
        free = origin is not typing.Literal
    return dict_schemas, list_items, free


def check_names(params: Mapping[str, Any], schema: type | None, prefix: str = "") -> None:
    """Raise Stripe's unknown-parameter error for any name `schema` does not declare."""
    if schema is None:
        return
    hints = _hints(schema)
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in hints:
            raise invalid_request(f"Received unknown parameter: {name}", name, "parameter_unknown")
        _check_value(value, hints[key], name)


def _check_value(value: Any, tp: Any, name: str) -> None:
    dict_schemas, list_items, free = _shapes(tp)
    if isinstance(value, dict) and dict_schemas and not free:
        check_names(value, dict_schemas[0], name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for item_type in list_items:
                _check_value(item, item_type, f"{name}[{i}]")


# -- values --------------------------------------------------------------------------------------
def get_str(params: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {name}", name)
    return value


def get_int(
    params: Mapping[str, Any], name: str, default: int | None = None, required: bool = False
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(name)
        return default
    try:
        return int(str(value))
    except ValueError:
        raise invalid_request(f"Invalid integer: {value}", name) from None


def get_bool(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if str(value).lower() in {"true", "1"}:
        return True
    if str(value).lower() in {"false", "0"}:
        return False
    raise invalid_request(f"Invalid boolean: {value}", name)


def get_dict(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid hash: {name}", name)
    return value


def get_choice(
    params: Mapping[str, Any], name: str, choices: Iterable[str], default: str | None = None
) -> str | None:
    value = get_str(params, name)
    if value is None:
        return default
    allowed = list(choices)
    if value not in allowed:
        raise invalid_request(
            f"Invalid {name}: must be one of {', '.join(allowed)}",
            name,
        )
    return value


def merge_metadata(current: dict[str, str], update: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata update: keys set to '' are removed, metadata='' clears everything."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise invalid_request("Invalid metadata: must be a hash", param)
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    if len(merged) > 50:
        raise invalid_request("Metadata can have at most 50 keys.", param)
    return merged


def expand_list(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None or value == "":
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
