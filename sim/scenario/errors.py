"""Describing a validation problem in words, and locating it in the YAML source."""

from __future__ import annotations

import math
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from sim.scenario.schema import _KNOWN_ERROR_TYPES, MAX_INT, Scenario, _short, suggest


# -- describing a validation error ---------------------------------------------------------------
def _unwrap(tp: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def union_members(tp: Any) -> list[type[BaseModel]]:
    """The models of a (discriminated) union of models, in order; ``[]`` for anything else."""
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
    return []


def _literal_values(model: type[BaseModel], name: str = "kind") -> tuple:
    f = model.model_fields.get(name)
    if f is None or get_origin(f.annotation) is not Literal:
        return ()
    return get_args(f.annotation)


def _type_at(raw_loc: tuple) -> Any:
    """The declared type at a pydantic error location (with its union tags), or None."""
    tp: Any = Scenario
    for part in raw_loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(part) if isinstance(part, str) else None
            if f is None:
                return None
            tp = f.annotation
        elif get_origin(tp) is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif members := union_members(tp):
            tp = next((m for m in members if part in _literal_values(m)), None)
            if tp is None:
                return None
        else:
            return None
    return tp


def _keys_at(raw_loc: tuple) -> list[str]:
    tp = _unwrap(_type_at(raw_loc))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


_EXPECTED = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "greater_than": "expected a value greater than {gt}",
    "greater_than_equal": "expected a value of at least {ge}",
    "less_than": "expected a value less than {lt}",
    "less_than_equal": "expected a value of at most {le}",
    "too_short": "expected at least {min_length} item(s)",
    "too_long": "expected at most {max_length} item(s)",
    "none_required": "expected nothing (null)",
    "invalid_key": "expected a key name (text)",
}


def _describe(err: dict) -> str:
    """What was expected, in words, for one pydantic error."""
    typ, raw = err["type"], tuple(err["loc"])
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if typ == "extra_forbidden":
        choices = _keys_at(raw[:-1])
        msg = f"unknown key {_short(raw[-1])}"
        hint = suggest(raw[-1], choices, cutoff=0.5)
        if hint:
            return msg + hint
        return msg + (f"; expected one of: {', '.join(choices)}" if choices else "")
    if typ == "missing":
        return f"required key {_short(raw[-1])} is missing"
    if typ == "literal_error":
        opts = re.findall(r"'((?:[^'\\]|\\.)*)'", str(ctx.get("expected", "")))
        return f"expected one of {', '.join(opts)}; got {_short(got)}{suggest(got, opts, 0.5)}"
    if typ in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "kind")).strip("'")
        tags = [str(t) for m in union_members(_type_at(raw)) for t in _literal_values(m, disc)]
        if typ == "union_tag_not_found":
            return f"required key {disc!r} is missing; expected one of: {', '.join(tags)}"
        tag = ctx.get("tag")
        hint = suggest(tag, tags, 0.5) or f"; expected one of: {', '.join(tags)}"
        return f"unknown {disc} {_short(tag)}{hint}"
    if typ == "value_error":
        return str(ctx.get("error") or err["msg"])
    if typ in _EXPECTED:
        try:
            expected = _EXPECTED[typ].format(**ctx)
        except (KeyError, IndexError, ValueError):
            expected = _EXPECTED[typ]
        return f"{expected}, got {_short(got)}"
    if typ not in _KNOWN_ERROR_TYPES:  # our own messages, already phrased
        return err["msg"]
    msg = err["msg"]
    return f"{msg[:1].lower()}{msg[1:]}, got {_short(got)}"


# -- locating a problem in the YAML ---------------------------------------------------------------
def _clean_loc(data: Any, raw_loc: tuple) -> tuple:
    """A pydantic location without its union tags, as a path in the raw data."""
    out: list = []
    cur = data
    for i, part in enumerate(raw_loc):
        last = i == len(raw_loc) - 1
        if isinstance(cur, dict):
            if part in cur:
                out.append(part)
                cur = cur[part]
            elif last:
                out.append(part)  # a missing or forbidden key
            elif cur.get("kind") != part:  # a section or key not written: its default
                out.append(part)
                cur = {}
            continue  # otherwise a union tag
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
            continue
        if last and not out:
            out.append(part)
        # a tag below a scalar: nothing more to follow
    return tuple(out)


def _shown(text: object) -> str:
    """Text as it can be shown on one line (quoted when it holds odd characters)."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def _dotted(loc: tuple) -> str:
    return ".".join(_shown(p) for p in loc) or "(top level)"


def _find_node(root: yaml.Node, loc: tuple, key_wanted: bool) -> tuple[yaml.Node, int]:
    """The node a problem at ``loc`` should point at, and how deep ``loc`` exists in the file."""
    cur, key, depth = root, None, 0
    for part in loc:
        nxt = nkey = None
        if isinstance(cur, yaml.MappingNode):
            index = getattr(cur, "_sim_keys", None)
            if index is None or index[0] != len(cur.value):
                # built once per mapping (and again if merge keys were folded into it since):
                # locating many problems in one wide mapping stays linear
                keys = {}
                for k, v in cur.value:
                    if isinstance(k, yaml.ScalarNode):
                        keys[k.value] = (v, k)  # the last duplicate wins, as in the loaded data
                index = cur._sim_keys = (len(cur.value), keys)
            nxt, nkey = index[1].get(str(part), (None, None))
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(cur.value):
                nxt = cur.value[part]
        if nxt is None:
            return (key or cur), depth
        cur, key, depth = nxt, nkey, depth + 1
    if key is not None and (key_wanted or isinstance(cur, yaml.MappingNode | yaml.SequenceNode)):
        return key, depth
    return cur, depth


Source = tuple[str, "yaml.Node | None"]  # (file name, composed YAML) of each file of a chain
Applied = tuple[tuple, str]  # (path, "--set" item) of each override


def _locate(loc: tuple, key_wanted: bool, sources: list[Source], applied: list[Applied]):
    """``(where, sort key)``: ``file:line:col`` (or ``--set ITEM``) for a problem at ``loc``."""
    for i in range(len(applied) - 1, -1, -1):
        path, item = applied[i]
        if loc[: len(path)] == path:
            return f"--set {_shown(item)}", (len(sources), i, 0)
    best = None
    for si, (name, root) in enumerate(sources):
        if root is None:
            continue
        node, depth = _find_node(root, loc, key_wanted)
        if best is None or depth > best[0]:
            best = (depth, si, name, node)
    if applied and (best is None or best[0] == 0):
        # nothing of it is written in the files (a default that an override made wrong, as an
        # mrsc table left on one region by --set topology.regions=[...]): blame the override
        # of the same section, else the last one
        same = [i for i, (path, _) in enumerate(applied) if path[:1] == loc[:1]]
        i = same[-1] if same else len(applied) - 1
        return f"--set {_shown(applied[i][1])}", (len(sources), i, 0)
    if best is None:
        return (sources[0][0] if sources else "<scenario>"), (0, 0, 0)
    _, si, name, node = best
    m = node.start_mark
    return f"{name}:{m.line + 1}:{m.column + 1}", (si, m.line, m.column)


# -- numbers no field can hold --------------------------------------------------------------------
def _scan_numbers(data: Any) -> list[tuple[tuple, str]]:
    """Whole numbers too large for any field, replaced in ``data`` by infinity (which every
    number field rejects or treats as 'never') so validators meet no overflow. Returns the
    ``(loc, message)`` of each."""
    out: list[tuple[tuple, str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple]] = [(data, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:  # YAML aliases share objects
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in list(items):
                if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
                    out.append((loc + (k,), f"number too large (at most {MAX_INT})"))
                    node[k] = math.inf
                elif isinstance(v, dict | list):
                    stack.append((v, loc + (k,)))
    return out


def _bool_numbers(tp: Any, value: Any, loc: tuple, out: list[tuple[tuple, str]]) -> None:
    """``true``/``false`` given for a number: pydantic would take them as 1 and 0."""
    stack = [(tp, value, loc)]
    while stack:
        tp, value, loc = stack.pop()
        if get_origin(tp) is Annotated and not union_members(tp):
            continue  # durations, sizes, regions: their own parsers refuse booleans
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if isinstance(value, dict):
                for k, v in value.items():
                    f = tp.model_fields.get(k) if isinstance(k, str) else None
                    if f is not None:
                        stack.append((f.annotation, v, loc + (k,)))
        elif members := union_members(tp):
            if isinstance(value, dict):
                m = next((m for m in members if value.get("kind") in _literal_values(m)), None)
                if m is not None:
                    stack.append((m, value, loc))
        elif get_origin(tp) is list and isinstance(value, list):
            (item,) = get_args(tp) or (Any,)
            stack.extend((item, v, loc + (i,)) for i, v in enumerate(value))
        elif tp in (int, float) and isinstance(value, bool):
            what = "a whole number" if tp is int else "a number"
            out.append(
                (loc, f"expected {what}, got {str(value).lower()} (true and false are not numbers)")
            )


def _check(
    data: dict, sources: list[Source], applied: list[Applied], found: list[tuple[tuple, str]]
) -> Scenario | None:
    """Validate ``data``; append every problem to ``found`` as (sort key, line)."""
    booleans: list[tuple[tuple, str]] = []
    _bool_numbers(Scenario, data, (), booleans)
    for loc, msg in booleans:
        where, key = _locate(loc, False, sources, applied)
        found.append((key, f"{where}: {_dotted(loc)}: {msg}"))
    too_large = _scan_numbers(data)
    for loc, msg in too_large:
        where, key = _locate(loc, False, sources, applied)
        found.append((key, f"{where}: {_dotted(loc)}: {msg}"))
    skip = {loc for loc, _ in too_large} | {loc for loc, _ in booleans}
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = _clean_loc(data, tuple(err["loc"]))
            if loc in skip and err["type"] != "extra_forbidden":
                continue
            key_wanted = err["type"] in ("extra_forbidden", "missing")
            where, key = _locate(loc, key_wanted, sources, applied)
            line = f"{where}: {_dotted(loc)}: {_describe(err)}"
            if len(line) > 1000:
                line = line[:997] + "..."
            found.append((key, line))
        return None


def _finish(found: list[tuple[tuple, str]]) -> list[str]:
    """Problems in file order, each once."""
    out: list[str] = []
    seen: set[str] = set()
    for _, line in sorted(found, key=lambda kl: kl[0]):
        line = line.replace("\r", "\\r").replace("\n", "\\n")  # one line per problem
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out
