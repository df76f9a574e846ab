"""Compare the shape of a simulated payload with a real one: keys, JSON value types, envelopes."""

from __future__ import annotations

from typing import Any


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


def shape_differences(sim: Any, real: Any, path: str = "$", *, loose_types: frozenset[str] = frozenset(),
                      optional: frozenset[str] = frozenset()) -> list[str]:
    """Every place where ``sim`` lacks a key of ``real`` or holds another JSON type.

    ``loose_types``: key names whose value type may differ (e.g. fields a capture tool re-serialised);
    ``optional``: key names the real payload has that the simulation may omit.
    Lists: a homogeneous real list's first element is the template for every simulated element;
    a heterogeneous one (``[meta, ctxs]``) is compared position by position.
    """
    out: list[str] = []
    rt, st = json_type(real), json_type(sim)
    key = path.rsplit(".", 1)[-1]
    if rt != st and rt != "null" and key not in loose_types:
        return [f"{path}: real is {rt}, sim is {st}"]
    if rt == "object":
        for k, v in real.items():
            if k not in sim:
                if k not in optional:
                    out.append(f"{path}.{k}: missing in sim")
                continue
            out += shape_differences(sim[k], v, f"{path}.{k}", loose_types=loose_types, optional=optional)
    elif rt == "array" and real and sim:
        hetero = len(real) > 1 and json_type(real[0]) != json_type(real[1])
        for i, item in enumerate(sim[:50]):
            template = real[min(i, len(real) - 1)] if hetero else real[0]
            out += shape_differences(item, template, f"{path}[{i}]", loose_types=loose_types, optional=optional)
    return out
