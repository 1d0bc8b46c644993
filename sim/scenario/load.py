"""Loading scenario files: YAML with ``extends:`` chains, ``--set`` overrides, every problem reported at once."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from sim.scenario.errors import Applied, Source, _check, _dotted, _finish, _locate, _shown
from sim.scenario.schema import Scenario, ScenarioError, _short


# -- loading ------------------------------------------------------------------------------------
def _deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _duplicates(root: yaml.Node, name: str, si: int, found: list) -> None:
    """Report keys given twice in one mapping (YAML keeps the last silently)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in first:
                        m = k.start_mark
                        found.append(
                            (
                                (si, m.line, m.column),
                                f"{name}:{m.line + 1}:{m.column + 1}: "
                                f"{_dotted(loc + (k.value,))}: duplicate key {k.value!r} (first "
                                f"given on line {first[k.value].start_mark.line + 1})",
                            )
                        )
                    else:
                        first[k.value] = k
                    stack.append((v, loc + (k.value,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, loc + (i,)) for i, v in enumerate(node.value))


MAX_NESTING = 50  # a scenario needs a handful of levels; deeper input is refused up front
# The shipped scenarios are 1-2 KB and hold a few hundred values: these limits are far above any
# real scenario and far below what would take the loader (or validation) long or much memory.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # values of a file once YAML aliases are expanded ("billion laughs")


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many values the document holds once every alias is expanded (stops past ``limit``).

    Aliases share composed nodes, so each node's expanded size is computed once (memoised) and
    the cost is linear in the file, however many times the aliases multiply."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        if isinstance(node, yaml.MappingNode):
            kids = [n for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            size[id(node)] = 1
            continue
        if not done:
            size_todo = [k for k in kids if id(k) not in size]
            if size_todo:
                stack.append((node, True))
                stack.extend((k, False) for k in size_todo)
                continue
        total = 1 + sum(size.get(id(k), 1) for k in kids)  # a cycle counts once
        size[id(node)] = min(total, limit + 1)
    return size.get(id(root), 1)


def _read_text(path: Path, name: str, found: list) -> str | None:
    """The text of a regular file of at most MAX_FILE_BYTES; None and a problem otherwise.
    FIFOs, devices and folders are refused before they are opened for reading (reading a FIFO
    blocks until a writer comes)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:
        found.append(
            ((0, 0, 0), f"{name}: cannot read the file ({getattr(e, 'strerror', None) or e})")
        )
        return None
    if not stat.S_ISREG(st.st_mode):
        what = (
            "a folder" if stat.S_ISDIR(st.st_mode)
            else "a FIFO" if stat.S_ISFIFO(st.st_mode)
            else "a device or socket"
        )  # fmt: skip
        found.append(((0, 0, 0), f"{name}: cannot read the file: not a regular file ({what})"))
        return None
    if st.st_size > MAX_FILE_BYTES:
        found.append(
            (
                (0, 0, 0),
                f"{name}: too large ({st.st_size} bytes; a scenario file may hold at most {MAX_FILE_BYTES})",
            )
        )
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check above
                found.append(((0, 0, 0), f"{name}: not a regular file: expected a scenario file"))
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                raw = f.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as e:
        found.append(((0, 0, 0), f"{name}: cannot read the file ({e.strerror or e})"))
        return None
    if len(raw) > MAX_FILE_BYTES:
        found.append(
            (
                (0, 0, 0),
                f"{name}: too large (a scenario file may hold at most {MAX_FILE_BYTES} bytes)",
            )
        )
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        found.append(((0, 0, 0), f"{name}: not a text file (not UTF-8 at byte {e.start})"))
        return None


def _nesting_depth(text: str) -> int | None:
    """The deepest nesting of collections in a YAML text, from the (iterative) scanner, so that
    deep input is refused the same way whatever the interpreter's stack; None if it does not scan
    (the parser then reports why)."""
    opening = (
        yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
        yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken,
    )  # fmt: skip
    depth = deepest = 0
    try:
        for tok in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(tok, opening):
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if deepest > MAX_NESTING:
                        return deepest
            elif isinstance(
                tok, yaml.BlockEndToken | yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken
            ):
                depth -= 1
    except (yaml.YAMLError, ValueError, OverflowError):
        return None
    return deepest


def _read_yaml(path: Path, found: list, si: int = 0) -> tuple[dict | None, yaml.Node | None]:
    """The mapping and the composed nodes of one YAML file; None and a problem if impossible.
    ``si`` is the file's place in its ``extends`` chain (to sort problems in file order)."""
    name = str(path)
    text = _read_text(path, name, found)
    if text is None:
        return None, None
    depth = _nesting_depth(text)
    if depth is not None and depth > MAX_NESTING:
        found.append(((0, 0, 0), f"{name}: nested too deeply (more than {MAX_NESTING} levels)"))
        return None, None
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters at once
        root = loader.get_single_node()
        if root is not None:
            if _expanded_size(root, MAX_VALUES) > MAX_VALUES:
                found.append(
                    (
                        (0, 0, 0),
                        f"{name}: too many values (more than {MAX_VALUES} with YAML aliases "
                        "expanded; a scenario holds a few hundred)",
                    )
                )
                return None, None
            # duplicate keys are looked for before construction, which folds merge keys
            # ("<<: *f") into their mapping: a key that overrides a merged one is no duplicate
            _duplicates(root, name, si, found)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid"
        if e.context and e.context.startswith("expected"):
            problem = f"{e.context}, {problem}"
        if "\t" in problem or "'\\t'" in problem:
            problem += " (indent with spaces: YAML does not allow tabs)"
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        found.append(((0, 0, 0), f"{where}: not valid YAML: {problem}"))
        return None, None
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        found.append(((0, 0, 0), f"{name}:{line}: not valid YAML: {e.reason} ({e.character!r})"))
        return None, None
    except yaml.YAMLError as e:
        found.append(((0, 0, 0), f"{name}: not valid YAML: {e}"))
        return None, None
    except (ValueError, OverflowError) as e:  # e.g. an integer of more than 4300 digits
        why = "a number with too many digits" if "digits" in str(e) else str(e)
        found.append(((0, 0, 0), f"{name}: not valid YAML: {why}"))
        return None, None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        found.append(
            (
                (0, 0, 0),
                f"{name}:1:1: (top level): the file is empty or holds only comments: expected a "
                "mapping of keys such as 'name:', 'run:' and 'faults:'",
            )
        )
        return None, None
    if not isinstance(data, dict):
        found.append(
            (
                (0, 0, 0),
                f"{name}:1:1: (top level): expected a mapping of keys such as 'run:' and "
                f"'faults:', got a {type(data).__name__}",
            )
        )
        return None, None
    return data, root


def _load_chain(path: Path, found: list, sources: list[Source], seen: tuple = ()) -> dict | None:
    """The raw mapping of a scenario file with its ``extends`` chain merged in."""
    data, root = _read_yaml(path, found, len(sources))
    if data is None:
        return None
    sources.append((str(path), root))
    parent = data.get("extends")
    if parent is None:
        return data
    where, (_, line, col) = _locate(("extends",), False, [(str(path), root)], [])
    key = (len(sources) - 1, line, col)
    chain = " -> ".join(p.name for p in (*seen, path))
    if not isinstance(parent, str) or not parent.strip():
        found.append(
            (key, f"{where}: extends: expected a scenario file name, got {_short(parent)}")
        )
        return None
    try:
        ppath = (path.parent / parent).resolve()
        me = path.resolve()
        exists = ppath.exists()
    except (OSError, ValueError, RuntimeError) as e:
        found.append((key, f"{where}: extends: cannot use {_short(parent)} ({e})"))
        return None
    if ppath == me or ppath in seen:
        found.append((key, f"{where}: extends: circular: {chain} -> {ppath.name}"))
        return None
    if not exists:
        found.append((key, f"{where}: extends: no such file {ppath}"))
        return None
    pdata = _load_chain(ppath, found, sources, (*seen, me))
    if pdata is None:
        return None
    pdata.pop("name", None)
    pdata.pop("description", None)
    merged = _deep_merge(pdata, data)
    merged["extends"] = parent
    return merged


def parse_override(item: str) -> tuple[list, Any]:
    """``a.b.c=value`` as (path, YAML-parsed value); digits in the path index lists."""
    key, eq, raw = item.partition("=")
    parts = [p.strip() for p in key.split(".")]
    if not eq or not key.strip() or any(not p for p in parts):
        raise ScenarioError(
            [f"--set {_shown(item)}: expected dotted.key=value, e.g. workload.linger=10ms"]
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        value = raw
    return [int(p) if p.isdigit() else p for p in parts], value


def _apply_override(data: dict, path: list, value: Any, item: str | None = None) -> None:
    """Set ``value`` at ``path`` in ``data`` (creating mappings on the way)."""
    item = item if item is not None else f"{'.'.join(map(str, path))}=..."
    cur: Any = data
    for depth, p in enumerate(path):
        last = depth == len(path) - 1
        here = _dotted(tuple(path[:depth])) if depth else "(top level)"
        if isinstance(cur, list):
            if not (isinstance(p, int) and 0 <= p <= len(cur) - (0 if last else 1)):
                raise ScenarioError(
                    [
                        f"--set {_shown(item)}: {here}: no item {p!r} in a list of {len(cur)} (count from 0)"
                    ]
                )
            if last:
                if p == len(cur):
                    cur.append(value)
                else:
                    cur[p] = value
                return
            cur = cur[p]
        elif isinstance(cur, dict):
            if last:
                cur[p] = value
                return
            if cur.get(p) is None:
                if isinstance(path[depth + 1], int):
                    raise ScenarioError(
                        [f"--set {_shown(item)}: {_dotted(tuple(path[: depth + 1]))}: no such list"]
                    )
                cur[p] = {}
            cur = cur[p]
        else:
            raise ScenarioError(
                [f"--set {_shown(item)}: {here}: holds {_short(cur)}, not a mapping or a list"]
            )


def apply_overrides(data: dict, items: list[str], sources: list, found: list) -> list[Applied]:
    """Apply ``--set`` items to ``data`` in order; each problem goes into ``found``, located at
    its item. Returns the (path, item) of each applied override."""
    applied: list[Applied] = []
    for item in items:
        try:
            p, v = parse_override(item)
            _apply_override(data, p, v, item)
            applied.append((tuple(p), item))
        except ScenarioError as e:
            found.extend(((len(sources), len(applied), 0), line) for line in e.problems)
    return applied


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, merge, override and validate a scenario file; raise ScenarioError on any problem."""
    found: list[tuple[tuple, str]] = []
    sources: list[Source] = []
    sc = None
    try:
        data = _load_chain(Path(path), found, sources)
        if data is not None:
            applied = apply_overrides(data, overrides or [], sources, found)
            data.setdefault("name", Path(path).stem)
            sc = _check(data, sources, applied, found)
    except RecursionError:
        found.append(((0, 0, 0), f"{path}: nested too deeply"))
    if found or sc is None:
        raise ScenarioError(_finish(found) or [f"{path}: not a valid scenario"])
    return sc


def validate_data(data: Any, where: str = "<scenario>", root: yaml.Node | None = None) -> Scenario:
    """Validate a mapping as a scenario; raise ScenarioError naming every problem."""
    if not isinstance(data, dict):
        raise ScenarioError([f"{where}: (top level): expected a mapping of keys"])
    found: list[tuple[tuple, str]] = []
    try:
        data = copy.deepcopy(data)
        sc = _check(data, [(where, root)], [], found)
    except RecursionError:
        raise ScenarioError([f"{where}: nested too deeply"]) from None
    if found or sc is None:
        raise ScenarioError(_finish(found) or [f"{where}: not a valid scenario"])
    return sc


def to_yaml(sc: Scenario) -> str:
    """The resolved scenario as YAML (every default filled in, the ``extends:`` chain followed
    and dropped: the file stands alone, e.g. in a run folder)."""
    return yaml.safe_dump(sc.model_dump(mode="json", exclude={"extends"}), sort_keys=False)
