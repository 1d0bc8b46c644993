"""The scenario reference, ``docs/scenarios.md``, generated from the pydantic models.

    python -m sim.scenario.reference            # print the reference
    python -m sim.scenario.reference --write    # write docs/scenarios.md
    python -m sim.scenario.reference --check    # exit 1 if docs/scenarios.md is out of date

Every section and key comes from :mod:`sim.scenario` (type, unit, default, description) and every
fault kind from the members of ``sim.faults.FaultSpec`` (fields, defaults, docstring and an
example). A test compares the file with :func:`render`, so the reference cannot drift from the
code. Examples: a fault class's own ``model_config["json_schema_extra"]["examples"]`` first, else
the one written here in ``EXAMPLES``, else one built from the kind's required fields; the test
validates every example it shows.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.faults import FaultSpec
from sim.scenario.errors import _unwrap, union_members
from sim.scenario.jsonschema import TYPE_NAMES, show_value, special_type
from sim.scenario.load import validate_data
from sim.scenario.schema import SECTIONS, Scenario, ScenarioError, _known_regions

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"

# One example per fault kind (each is checked by tests/test_scenario.py against the models).
EXAMPLES: dict[str, dict] = {
    "region-outage": {"target": "leader", "at": "20m", "data": "destroyed"},
    "control-plane-outage": {"target": "us-east-1", "at": "10m", "duration": "5m"},
    "data-plane-outage": {"target": "us-east-2", "at": "10m", "duration": "5m"},
    "zone-outage": {"target": "us-east-1", "zone": "b", "at": "10m", "duration": "15m"},
    "bucket-unavailable": {"target": "us-west-2", "at": "5m", "duration": "10m"},
    "bucket-slow": {
        "target": "us-east-1",
        "at": "5m",
        "duration": "10m",
        "add": "200ms",
        "multiplier": 2,
        "extra_sigma": 0.5,
    },
    "bucket-errors": {"target": "us-east-2", "at": "5m", "duration": "10m", "rate": 0.2},
    "table-unavailable": {"target": "leader", "at": "10m", "duration": "2m"},
    "table-slow": {"target": "leader", "at": "10m", "duration": "10m", "add": "400ms"},
    "table-errors": {"target": "us-east-1", "at": "10m", "duration": "5m", "rate": 0.3},
    "table-leader-lost": {"at": "15m"},
    "replication-paused": {"target": "us-west-2", "at": "10m", "duration": "5m"},
    "partition": {
        "mode": "groups",
        "groups": [["us-east-1"], ["us-east-2", "us-west-2"]],
        "at": "10m",
        "duration": "5m",
    },
    "link-degradation": {
        "target": "us-east-1",
        "peer": "us-west-2",
        "at": "10m",
        "duration": "10m",
        "delay": "50ms",
        "jitter": 5,
        "loss": 0.01,
    },
    "control-plane-crash-loop": {
        "target": "leader",
        "at": "10m",
        "duration": "10m",
        "down": "20s",
        "up": "10s",
    },
    "control-plane-slow": {
        "target": "leader",
        "at": "10m",
        "duration": "5m",
        "add": "100ms",
        "multiplier": 3,
    },
    "bad-deploy": {
        "target": "us-east-1",
        "at": "10m",
        "step": "10m",
        "bake": "30m",
        "detect_after": "15m",
    },
    "clock-skew": {"target": "follower", "at": "5m", "duration": "10m", "offset": "-3s"},
    "load-spike": {"target": "all", "at": "10m", "duration": "2m", "multiplier": 3},
    "producers-move": {"target": "us-east-2", "to": "us-east-1", "at": "10m", "duration": "20m"},
    "consumers-move": {"target": "us-west-2", "to": "us-east-1", "at": "10m", "duration": "20m"},
    "pin-preferred": {"at": "10m", "every": "30m", "cycle": ["us-east-1", "us-west-2"]},
    "auto-preference": {"at": "50m"},
}

# A file with three mistakes, loaded for real to show what the loader says.
BAD_EXAMPLE = """\
name: study
run:
  duration: 1 hour
topology:
  regions: [us-east-1, us-esat-2, us-west-2]
workload:
  lingr: 25ms
"""

MINIMAL_EXAMPLE = """\
# yaml-language-server: $schema=../scenario.schema.json
name: lose-us-east-1
description: The reference setup loses us-east-1 for 10 minutes, 20 minutes in.
extends: multi-region.yaml        # start from the reference setup
run:
  duration: 45m
faults:
  - kind: region-outage
    target: us-east-1             # or leader / follower / table-leader / random
    at: 20m
    duration: 10m                 # absent: permanent
"""


# -- types, defaults, descriptions ---------------------------------------------------------------
def _special(metadata: list) -> str | None:
    for m in metadata:
        name = special_type(getattr(m, "func", None))
        if name:
            return name
    return None


def _constraints(metadata: list) -> list[str]:
    out = []
    for m in metadata:
        if isinstance(m, at.Ge):
            out.append(f">= {m.ge:g}")
        elif isinstance(m, at.Gt):
            out.append(f"> {m.gt:g}")
        elif isinstance(m, at.Le):
            out.append(f"<= {m.le:g}")
        elif isinstance(m, at.Lt):
            out.append(f"< {m.lt:g}")
        elif isinstance(m, at.MinLen) and m.min_length > 0:
            out.append(f"at least {m.min_length}")
        elif getattr(getattr(m, "func", None), "__name__", "") == "_distinct":
            out.append("distinct")
    return out


def type_text(annotation: Any, metadata: list | None = None, cons: list | None = None) -> str:
    """How the reference names a field's type (``duration``, ``list of region`` ...); the
    constraints met on the way (``>= 1``, ``distinct``) are appended to ``cons``."""
    metadata = list(metadata or [])
    cons = [] if cons is None else cons
    cons.extend(_constraints(metadata))
    special = _special(metadata)
    if special:
        return TYPE_NAMES[special]
    tp = annotation
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        return type_text(base, meta, cons)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if args and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            return "mapping, one of the kinds below"
        return " or ".join(type_text(a, None, cons) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(tp))
    if origin is list:
        return f"list of {type_text(get_args(tp)[0])}"
    if origin is tuple:
        return "[" + ", ".join(type_text(a) for a in get_args(tp)) + "]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    names = {int: "integer", float: "number", str: "text", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _special_deep(annotation: Any, metadata: list) -> str | None:
    """The special type of a field even under ``X | None`` or ``list[X]``."""
    found = _special(metadata)
    if found:
        return found
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        return _special_deep(base, meta)
    for a in get_args(annotation):
        found = _special_deep(a, [])
        if found:
            return found
    return None


def field_type(f: FieldInfo) -> str:
    """The type column of one field, with its constraints."""
    cons: list[str] = []
    text = type_text(f.annotation, f.metadata, cons)
    cons = sorted(set(cons), key=cons.index)
    return text + (f" ({', '.join(cons)})" if cons else "")


def field_default(f: FieldInfo) -> str:
    """The default column of one field."""
    if f.is_required():
        return "**required**"
    if f.default_factory is not None:
        value = f.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
    else:
        value = f.default
    if value is None:
        return "-"
    return f"`{show_value(value, _special_deep(f.annotation, f.metadata))}`"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _doc(obj: Any) -> str:
    return " ".join((inspect.getdoc(obj) or "").split())


def fields_table(fields: dict[str, FieldInfo]) -> list[str]:
    """A markdown table of fields: key, type, default, description."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, f in fields.items():
        lines.append(
            f"| `{name}` | {_cell(field_type(f))} | {_cell(field_default(f))} "
            f"| {_cell(f.description or '')} |"
        )
    return lines


# -- faults ---------------------------------------------------------------------------------------
def fault_kinds() -> list[type[BaseModel]]:
    """The members of ``FaultSpec``, in the order sim/faults/kinds.py lists them."""
    return union_members(FaultSpec)


def kind_of(model: type[BaseModel]) -> str:
    values = get_args(model.model_fields["kind"].annotation)
    return str(values[0]) if values else model.__name__


def _field_key(f: FieldInfo) -> tuple:
    return (field_default(f), f.description or "", field_type(f))


def common_fields(models: list[type[BaseModel]]) -> dict[str, FieldInfo]:
    """Fields every fault kind has, in their most common form (``kind`` aside)."""
    if not models:
        return {}
    names = [n for n in models[0].model_fields if n != "kind"]
    out = {}
    for n in names:
        if all(n in m.model_fields for m in models):
            forms: dict[tuple, tuple[int, FieldInfo]] = {}
            for m in models:
                f = m.model_fields[n]
                count, _ = forms.get(_field_key(f), (0, f))
                forms[_field_key(f)] = (count + 1, f)
            out[n] = max(forms.values(), key=lambda cf: cf[0])[1]
    return out


def own_fields(model: type[BaseModel], common: dict[str, FieldInfo]) -> dict[str, FieldInfo]:
    """A kind's fields that are not common, or common with another default or meaning."""
    return {
        n: f
        for n, f in model.model_fields.items()
        if n != "kind" and (n not in common or _field_key(f) != _field_key(common[n]))
    }


def _sample(name: str, f: FieldInfo) -> Any:
    """A plausible value for a required field (for a kind with no example)."""
    special = _special_deep(f.annotation, f.metadata)
    if special in ("Duration", "DurationOrRange", "SignedDuration"):
        return "5m"
    if special == "Size":
        return "1MiB"
    tp = _unwrap(f.annotation)
    if get_origin(tp) is Literal:
        return get_args(tp)[0]
    if get_origin(tp) is list:
        return ["us-east-1", "us-west-2"]
    if tp is int:
        return 1
    if tp is float:
        return 1.0
    if tp is bool:
        return True
    return "us-west-2"  # text: most required text fields name a region


def example(model: type[BaseModel]) -> dict:
    """One example of a fault kind, as written in a scenario's ``faults:`` list."""
    kind = kind_of(model)
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("examples"):
        given = dict(extra["examples"][0])
    elif kind in EXAMPLES:
        given = dict(EXAMPLES[kind])
    else:
        given = {"at": "10m"}
        if "duration" in model.model_fields:
            given["duration"] = "5m"
        for n, f in model.model_fields.items():
            if n != "kind" and f.is_required() and n not in given:
                given[n] = _sample(n, f)
    given.pop("kind", None)
    return {"kind": kind, **given}


def _flow(v: Any) -> str:
    """A value in YAML flow style (``[us-east-1, us-west-2]``, ``20m``)."""
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    text = yaml.safe_dump(v, default_flow_style=True, width=1000).strip()
    return text.removesuffix("...").strip()


def example_yaml(ex: dict) -> str:
    """A fault example as the ``faults:`` list of a scenario file."""
    lines = ["faults:"]
    for i, (k, v) in enumerate(ex.items()):
        lines.append(("  - " if i == 0 else "    ") + f"{k}: {_flow(v)}")
    return "\n".join(lines)


# -- the page -------------------------------------------------------------------------------------
def _regions_text() -> str:
    known = list(_known_regions())
    aws = [r for r in known if ":" not in r]
    gcp = sum(1 for r in known if r.startswith("gcp:"))
    azure = sum(1 for r in known if r.startswith("azure:"))
    return (
        f"AWS regions by their names ({', '.join(f'`{r}`' for r in aws)}), and {gcp} GCP and "
        f"{azure} Azure regions written `gcp:REGION` / `azure:REGION` (`gcp:us-east4`, "
        "`azure:eastus`): the regions of the shipped RTT data, `sim/data/SOURCES.md`"
    )


def _bad_example_output() -> str:
    root = yaml.compose(BAD_EXAMPLE)
    data = yaml.safe_load(BAD_EXAMPLE)
    try:
        validate_data(data, "study.yaml", root)
    except ScenarioError as e:
        return "\n".join(e.problems)
    raise AssertionError("BAD_EXAMPLE is valid")


def render() -> str:
    """The whole reference page."""
    out: list[str] = []
    add = out.append
    add("# Scenario reference")
    add("")
    add(
        "<!-- Generated by `python -m sim.scenario.reference --write` from sim/scenario/schema.py and sim/faults/kinds.py. "
        "Do not edit by hand: tests/test_scenario.py fails when this file and the models "
        "disagree. -->"
    )
    add("")
    add(
        "A scenario is one YAML file: the topology (regions, zones, buckets and quorum, the "
        "metadata table, the control planes and their lease), the workload, the run (duration, "
        "seed, warm-up) and a timeline of faults and operator actions. Every key has a default, "
        "so a scenario only says what differs from the reference setup of SPEC.md section 4. "
        "Run one with `sim run FILE`, check files with `sim validate FILE...`, list the shipped "
        "ones with `sim list`."
    )
    add("")
    add("```yaml")
    add(MINIMAL_EXAMPLE.rstrip())
    add("```")
    add("")
    add("## Writing a scenario")
    add("")
    add(
        "- **Units.** Durations are written with their unit: `500us`, `250ms`, `30s`, `2m` "
        "(or `2min`), `1h`, `1.5d`; a bare number is seconds. Sizes: `512B`, `4KB`, `1KiB`, "
        "`8MiB`, `1GiB`; a bare number is bytes. Keys ending in `_ms` are plain numbers of "
        "milliseconds. Where a fault's `at` or `duration` says *duration or [low, high]*, "
        "`[10m, 20m]` draws a value uniformly from the run's seed."
    )
    add(f"- **Regions.** {_regions_text()}.")
    add(
        "- **Defaults** are shown below with their source; *estimate* marks a value no public "
        "source gives. An absent list of regions means every topology region."
    )
    add(
        "- **`extends: FILE`** starts from another scenario (a path relative to this file): its "
        "keys are merged under this file's, mappings key by key, lists (such as `faults`) "
        "replaced whole; its `name` and `description` are not inherited. Chains are allowed, "
        "cycles are an error."
    )
    add(
        "- **Overrides.** `sim run FILE --set workload.linger=10ms --set run.seed=7` (also "
        "`sim validate` and `sim compare`) sets a dotted key after `extends` is merged; values "
        "are YAML (`--set topology.regions=[us-east-1,us-west-2]`), digits index lists "
        "(`--set faults.0.at=5m`). Overrides are checked like the file."
    )
    add(
        "- **Unknown keys are errors.** A file is checked as a whole and every problem is "
        "reported, one line each: `file:line:col: key.path: what was expected`, with the "
        "closest valid name for a misspelt key, value or region. Exit status 2, no traceback, "
        "nothing written under `results/`. For example:"
    )
    add("")
    add("```yaml")
    add(BAD_EXAMPLE.rstrip())
    add("```")
    add("")
    add("```")
    add("$ sim validate study.yaml")
    add(_bad_example_output())
    add("study.yaml: 3 problem(s)")
    add("```")
    add("")
    add("## Editor support")
    add("")
    add(
        "`sim schema --out scenario.schema.json` writes the JSON Schema of scenario files, "
        "generated from the same models as this page. Editors that use the YAML language server "
        "(VS Code with Red Hat's YAML extension, Neovim or Helix with `yaml-language-server`, "
        "JetBrains IDEs) pick it up from a comment on the first line of a scenario file:"
    )
    add("")
    add("```yaml")
    add("# yaml-language-server: $schema=../scenario.schema.json")
    add("```")
    add("")
    add(
        "The path is relative to the scenario file (a URL works too). The editor then completes "
        "keys, fault kinds and region names, shows each key's description, unit and default on "
        "hover, and underlines unknown keys and values of the wrong type as you type. To cover a "
        "whole folder without the comment, map the schema to it in the editor's settings, for "
        'VS Code `"yaml.schemas": {"./scenario.schema.json": "scenarios/*.yaml"}`. Regenerate '
        "the schema after upgrading the simulator; `sim validate` remains the final word (it "
        "also checks what a schema cannot, such as regions that must belong to the topology)."
    )
    add("")
    add("## Top-level keys")
    add("")
    top = {n: f for n, f in Scenario.model_fields.items() if n != "mutant"}
    out.extend(fields_table(top))
    add("")
    add(
        "(A hidden key, `mutant`, selects a deliberately broken design for the lab's own tests "
        "and `sim fuzz --mutant`; it is not a setting of the system.)"
    )
    for name, model in SECTIONS.items():
        add("")
        add(f"## `{name}`")
        add("")
        add(_doc(model))
        add("")
        out.extend(fields_table(model.model_fields))
    kinds = fault_kinds()
    common = common_fields(kinds)
    add("")
    add("## Faults and operator actions")
    add("")
    add(
        "`faults:` is a list; each item has a `kind` (below), a start `at`, a `duration` "
        "(absent: permanent) and a `target`, and always heals at its end. Targets are a region "
        "or symbolic: `leader` (the control-plane leader's region), `follower` (a region that "
        "is not the leader), `table-leader` (the metadata table's leader region), `random`; "
        "symbolic targets are resolved when the fault fires and recorded resolved in the run's "
        "fault timeline. `every` repeats a fault or an action with that period until `until` "
        "or the end of the run. Fault regions must be topology regions."
    )
    add("")
    add(f"Kinds: {', '.join(f'[`{kind_of(m)}`](#{kind_of(m)})' for m in kinds)}.")
    add("")
    add("Fields every kind has (a kind's own table shows where it differs):")
    add("")
    out.extend(fields_table(common))
    for m in kinds:
        k = kind_of(m)
        add("")
        add(f"### `{k}`")
        add("")
        add(_doc(m))
        own = own_fields(m, common)
        if own:
            add("")
            out.extend(fields_table(own))
        add("")
        add("```yaml")
        add(example_yaml(example(m)))
        add("```")
    add("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.scenario.reference", description=__doc__.splitlines()[0]
    )
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help=f"write {DOC_PATH}")
    g.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    a = ap.parse_args(argv)
    text = render()
    if a.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text)
        print(f"wrote {DOC_PATH}", file=sys.stderr)
        return 0
    if a.check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != text:
            print(
                f"{DOC_PATH} is out of date: python -m sim.scenario.reference --write",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


def _validate_examples() -> list[str]:
    """Problems with the examples this page shows (empty when all are valid)."""
    problems = []
    for m in fault_kinds():
        ex = example(m)
        data = {"run": {"duration": "2h"}, "faults": [ex]}
        if ex["kind"] == "replication-paused":  # acts only on an eventual table
            data["table"] = {"kind": "eventual"}
        try:
            validate_data(data, f"example {ex['kind']}")
        except ScenarioError as e:
            problems.extend(e.problems)
    return problems


__all__ = ["DOC_PATH", "EXAMPLES", "example", "fault_kinds", "main", "render"]

if __name__ == "__main__":
    sys.exit(main())
