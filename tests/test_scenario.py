"""Scenario files: the loader, its error messages, overrides, the schema and the generated reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario import (
    Scenario,
    ScenarioError,
    json_schema,
    load_scenario,
    parse_override,
    validate_data,
)
from sim.scenario import reference as docs
from sim.scenario.schema import SECTIONS

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<msg>.+)$")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        load_scenario(path, overrides)
    assert e.value.problems, "a ScenarioError names at least one problem"
    return e.value.problems


def parsed(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        m = LINE.match(line)
        assert m, f"not file:line:col: path: message: {line!r}"
        out.append(m.groupdict())
    return out


# -- shipped files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenarios_validate(path):
    """Every scenario in scenarios/ loads, with a name and a one-line description."""
    sc = load_scenario(path)
    assert isinstance(sc, Scenario)
    assert sc.description.strip() and "\n" not in sc.description.strip()


def test_region_defaults_are_filled_from_the_topology():
    """Absent region lists become the topology's regions and the quorum a majority of buckets."""
    sc = validate_data({"topology": {"regions": ["us-east-1", "us-west-2", "eu-west-1"]}})
    assert sc.storage.regions == sc.control_plane.regions == sc.workload.producer_regions
    assert sc.storage.regions == ["us-east-1", "us-west-2", "eu-west-1"]
    assert sc.storage.quorum == 2
    assert sc.table.leader_region == "us-east-1"


# -- every problem, located -----------------------------------------------------------------------
THREE = """\
name: three
run:
  duration: 1 hour
topology:
  regions: [us-east-1, us-eats-2, us-west-2]
workload:
  lingr: 25ms
"""


def test_three_mistakes_are_all_reported_with_their_lines(tmp_path):
    """A bad duration, an unknown region and a misspelt key give three lines, each located."""
    path = write(tmp_path, "three.yaml", THREE)
    got = parsed(problems(path))
    assert [(p["line"], p["col"], p["path"]) for p in got] == [
        ("3", "13", "run.duration"),
        ("5", "24", "topology.regions.1"),
        ("7", "3", "workload.lingr"),
    ]
    assert all(p["file"] == str(path) for p in got)
    assert "expected a duration" in got[0]["msg"]
    assert "did you mean 'us-east-2'?" in got[1]["msg"]
    assert "did you mean 'linger'?" in got[2]["msg"]


def test_misspelt_key_and_region_get_the_closest_name(tmp_path):
    """A misspelt key, region, literal and fault kind each suggest the valid name."""
    path = write(
        tmp_path,
        "typos.yaml",
        "topology:\n  regions: [us-east-1, eu-wset-1, us-west-2]\n"
        "storage:\n  profile: s3-standart\n"
        "control_plane:\n  prefrence: auto\n"
        "faults:\n  - kind: region-outag\n    at: 5m\n",
    )
    text = "\n".join(problems(path))
    assert "unknown region 'eu-wset-1' (did you mean 'eu-west-1'?)" in text
    assert "(did you mean 's3-standard'?)" in text
    assert "unknown key 'prefrence' (did you mean 'preference'?)" in text
    assert "unknown kind 'region-outag' (did you mean 'region-outage'?)" in text


def test_cross_section_problems_come_with_field_problems(tmp_path):
    """Checks across sections still run, and are reported, when other fields are invalid."""
    path = write(
        tmp_path,
        "mixed.yaml",
        "run:\n  duration: soon\n"
        "storage:\n  quorum: 5\n"
        "control_plane:\n  preference: eu-west-1\n"
        "faults:\n  - kind: bucket-slow\n    target: us-west-1\n    at: 1m\n",
    )
    got = {p["path"]: p for p in parsed(problems(path))}
    assert set(got) == {
        "run.duration",
        "storage.quorum",
        "control_plane.preference",
        "faults.0.target",
    }
    assert got["storage.quorum"]["line"] == "4"
    assert "exceeds the 3 bucket(s)" in got["storage.quorum"]["msg"]
    assert got["faults.0.target"]["line"] == "9"


def test_fault_problems_point_inside_the_list_item(tmp_path):
    """In faults:, an unknown key points at that key and a bad value at that value."""
    path = write(
        tmp_path,
        "faults.yaml",
        "run: {duration: 1h}\nfaults:\n"
        "  - kind: region-outage\n    at: 5m\n"
        "  - kind: link-degradation\n    peer: us-west-2\n    at: 10m\n    dealy: 5ms\n"
        "  - kind: bucket-errors\n    at: 1m\n    rate: 2\n",
    )
    got = {p["path"]: p for p in parsed(problems(path))}
    assert (got["faults.1.dealy"]["line"], got["faults.1.dealy"]["col"]) == ("8", "5")
    assert "did you mean 'delay'?" in got["faults.1.dealy"]["msg"]
    assert (got["faults.2.rate"]["line"], got["faults.2.rate"]["col"]) == ("11", "11")
    assert "at most 1" in got["faults.2.rate"]["msg"]


def test_section_checks_point_at_their_key(tmp_path):
    """Checks within a section (warm-up shorter than the run) name and locate the key."""
    path = write(tmp_path, "w.yaml", "run:\n  duration: 1m\n  warmup: 2m\n")
    [p] = parsed(problems(path))
    assert (p["line"], p["path"]) == ("3", "run.warmup")


BAD_FILES = [
    ("- just\n- a list\n", "expected a mapping"),
    ("just text\n", "expected a mapping"),
    ("run: [1, 2]\n", "run: expected a mapping"),
    ("topology:\n  regions: {a: 1}\n", "expected a list"),
    ("faults: {kind: region-outage}\n", "expected a list"),
    ("faults: [5]\n", "faults.0"),
    ("run:\n\tduration: 5m\n", "tabs"),
    ("run:\n  duration: 5m\n  duration: 6m\n", "duplicate key 'duration'"),
    ("run: {duration: 5m\n", "not valid YAML"),
    ("a: 1\n---\nb: 2\n", "single document"),
    ("run:\n  seed: " + "9" * 40 + "\n", "number too large"),
    ("faults:\n  - kind: bucket-slow\n    at: " + "9" * 400 + "\n", "number too large"),
    ("x: " + "9" * 5000 + "\n", "too many digits"),
    ("a: " + "[" * 1000 + "]" * 1000 + "\n", "nested too deeply"),
    ("workload:\n  records_per_s: .nan\n", "finite"),
    ("run:\n  duration: 1e999s\n", "finite"),
    ("? [a, b]\n: 1\n", "not valid YAML"),
    ("name: !!python/object:os.system x\n", "not valid YAML"),
    ("topology:\n  regions: []\n", "at least 1"),
    ("topology:\n  regions: [us-east-1, us-east-1]\n", "listed twice"),
    ("storage:\n  regions: []\n", "at least 1"),
    ("table:\n  kind: mrsc\n  regions: [us-east-1, us-east-2]\n", "exactly 3"),
    ("1: 2\n", "1: expected a key name"),
    ("run: {seed: true, duration: yes}\n", "run."),
]


@pytest.mark.parametrize("text, expect", BAD_FILES, ids=[e for _, e in BAD_FILES])
def test_bad_files_are_clean_errors(tmp_path, text, expect):
    """Malformed, mistyped, oversized or odd files raise ScenarioError naming the problem."""
    path = write(tmp_path, "bad.yaml", text)
    assert expect in "\n".join(problems(path))


def test_binary_garbage_is_a_clean_error(tmp_path):
    """A file that is not UTF-8 text is reported as such."""
    path = tmp_path / "bin.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in problems(path)[0]


def test_missing_file_is_a_clean_error(tmp_path):
    """A file that does not exist (or is a folder) is a ScenarioError, not an OSError."""
    assert "cannot read" in problems(tmp_path / "nope.yaml")[0]
    assert "cannot read" in problems(tmp_path)[0]


# -- extends ------------------------------------------------------------------------------------
def test_extends_merges_the_parent(tmp_path):
    """A child keeps the parent's keys, overrides its own, replaces lists, not name/description."""
    write(
        tmp_path,
        "base.yaml",
        "name: base\ndescription: the base\nrun: {duration: 1h, seed: 3}\n"
        "workload: {linger: 10ms, records_per_s: 50}\n"
        "faults:\n  - {kind: region-outage, at: 5m}\n",
    )
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\nrun: {duration: 30m}\nworkload: {linger: 5ms}\n"
        "faults:\n  - {kind: load-spike, at: 1m, duration: 1m}\n",
    )
    sc = load_scenario(child)
    assert (sc.name, sc.description, sc.extends) == ("child", "", "base.yaml")
    assert (sc.run.duration, sc.run.seed) == (1800.0, 3)
    assert (sc.workload.linger, sc.workload.records_per_s) == (0.005, 50)
    assert [f.kind for f in sc.faults] == ["load-spike"]


def test_extends_chain_reports_problems_in_the_file_that_has_them(tmp_path):
    """A mistake inherited from a parent is located in the parent file, the child's in the child."""
    write(tmp_path, "a.yaml", "run:\n  duration: 1h\n  warmupp: 5s\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    c = write(tmp_path, "c.yaml", "extends: b.yaml\nworkload:\n  linger: soon\n")
    got = parsed(problems(c))
    where = {p["path"]: (Path(p["file"]).name, p["line"]) for p in got}
    assert where == {"run.warmupp": ("a.yaml", "3"), "workload.linger": ("c.yaml", "3")}


def test_extends_missing_or_circular_parent_is_a_clean_error(tmp_path):
    """A parent that does not exist, a cycle, or a non-string extends is one located line."""
    missing = write(tmp_path, "m.yaml", "name: m\nextends: nowhere.yaml\n")
    [line] = problems(missing)
    assert line.startswith(f"{missing}:2:10: extends:") and "no such file" in line
    write(tmp_path, "x.yaml", "extends: y.yaml\n")
    y = write(tmp_path, "y.yaml", "extends: x.yaml\n")
    assert "circular" in problems(y)[0]
    me = write(tmp_path, "me.yaml", "extends: me.yaml\n")
    assert "circular" in problems(me)[0]
    odd = write(tmp_path, "odd.yaml", "extends: [a.yaml]\n")
    assert "expected a scenario file name" in problems(odd)[0]


# -- --set overrides ----------------------------------------------------------------------------------
def test_overrides_apply_with_units_and_yaml_values():
    """--set values are YAML, converted by the same models (units, lists, list indices)."""
    sc = load_scenario(
        ROOT / "scenarios" / "nuke-leader-region.yaml",
        [
            "workload.linger=10ms",
            "topology.regions=[us-east-1, us-west-2, eu-west-1]",
            "faults.0.at=5m",
            "run.seed=42",
        ],
    )
    assert sc.workload.linger == 0.01
    assert sc.topology.regions == ["us-east-1", "us-west-2", "eu-west-1"]
    assert sc.faults[0].at == 300.0
    assert sc.run.seed == 42
    assert parse_override("a.0.b=x: 1") == (["a", 0, "b"], {"x": 1})


def test_bad_overrides_name_the_override():
    """A bad --set is reported as '--set ITEM: path: expected ...', alongside the others."""
    lines = problems(
        ROOT / "scenarios" / "multi-region.yaml",
        [
            "workload.linger=abc",
            "workload.lingr=5ms",
            "storage.quorum=7",
            "nonsense",
            "faults.3.at=1",
        ],
    )
    assert (
        "--set workload.linger=abc: workload.linger: expected a duration such as 250ms, 30s, "
        "2m or 1h, got 'abc'" in lines
    )
    assert (
        "--set workload.lingr=5ms: workload.lingr: unknown key 'lingr' (did you mean 'linger'?)"
        in lines
    )
    assert any(
        x.startswith("--set storage.quorum=7: storage.quorum: quorum 7 exceeds") for x in lines
    )
    assert any(x.startswith("--set nonsense: expected dotted.key=value") for x in lines)
    assert any(x.startswith("--set faults.3.at=1: faults:") for x in lines)


# -- no other exception, whatever the input ---------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _loads_cleanly(path: Path, overrides: list[str] | None = None) -> None:
    try:
        sc = load_scenario(path, overrides)
    except ScenarioError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        assert all("\n" not in p for p in e.problems)
    else:
        assert isinstance(sc, Scenario)


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["250ms", "30s", "2m", "8MiB", "us-east-1", "leader", "auto", "mrsc", "1 hour", "-1s"]
    ),
)
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(list(SECTIONS))), kids, max_size=4
        ),
    ),
    max_leaves=20,
)


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text_is_a_scenario_or_a_clean_error(scratch, text):
    """Any text at all ends in a Scenario or a ScenarioError, never another exception."""
    path = scratch / "text.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _loads_cleanly(path)


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_are_a_scenario_or_a_clean_error(scratch, data):
    """Any bytes at all end in a Scenario or a ScenarioError."""
    path = scratch / "bytes.yaml"
    path.write_bytes(data)
    _loads_cleanly(path)


@FUZZ
@given(tree=trees)
def test_arbitrary_yaml_is_a_scenario_or_a_clean_error(scratch, tree):
    """Any YAML document (random nesting of random scalars) ends in a Scenario or a ScenarioError."""
    path = scratch / "tree.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    _loads_cleanly(path)


def _paths(node, prefix=()):
    """Every (path, value) in a nested mapping/list."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(root, path, value):
    cur = root
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value


def _delete(root, path):
    cur = root
    for p in path[:-1]:
        cur = cur[p]
    del cur[path[-1]]


@st.composite
def mutated_scenarios(draw):
    """A shipped scenario with a few random edits: deletions, swaps, random scalars, nesting."""
    base = yaml.safe_load(draw(st.sampled_from(SHIPPED)).read_text())
    base.pop("extends", None)  # written to a scratch folder: keep the parent out of it
    for _ in range(draw(st.integers(1, 4))):
        spots = [p for p, _ in _paths(base) if p]
        if not spots:
            break
        path = draw(st.sampled_from(spots))
        value = dict(_paths(base))[path]
        action = draw(st.sampled_from(["delete", "swap", "scalar", "nest", "list", "tree"]))
        if action == "delete":
            _delete(base, path)
        elif action == "swap":
            other = draw(st.sampled_from(spots))
            if other[: len(path)] != path and path[: len(other)] != other:
                other_value = dict(_paths(base))[other]
                _set(base, path, other_value)
                _set(base, other, value)
        elif action == "scalar":
            _set(base, path, draw(scalars))
        elif action == "nest":
            _set(base, path, {draw(st.text(max_size=6)): value})
        elif action == "list":
            _set(base, path, [value])
        else:
            _set(base, path, draw(trees))
    return base


@FUZZ
@given(data=mutated_scenarios())
def test_mutated_shipped_scenarios_are_a_scenario_or_a_clean_error(scratch, data):
    """Shipped scenarios with keys deleted, values swapped, replaced or nested never crash the loader."""
    path = scratch / "mutant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _loads_cleanly(path)


@FUZZ
@given(text=st.data())
def test_damaged_shipped_text_is_a_scenario_or_a_clean_error(scratch, text):
    """Shipped files with characters cut out or inserted never crash the loader."""
    src = text.draw(st.sampled_from(SHIPPED)).read_text()
    for _ in range(text.draw(st.integers(1, 3))):
        i = text.draw(st.integers(0, len(src)))
        j = text.draw(st.integers(i, min(len(src), i + 12)))
        src = src[:i] + text.draw(st.text(max_size=4)) + src[j:]
    path = scratch / "damaged.yaml"
    path.write_text(src.replace("extends:", "extend:"), encoding="utf-8", errors="surrogatepass")
    _loads_cleanly(path)


@FUZZ
@given(item=st.text(max_size=40))
def test_arbitrary_overrides_are_a_scenario_or_a_clean_error(item):
    """Any --set text ends in a Scenario or a ScenarioError."""
    _loads_cleanly(ROOT / "scenarios" / "multi-region.yaml", [item])


# -- descriptions, schema, reference ---------------------------------------------------------------------
def test_every_key_has_a_description():
    """Every key of every section says what it is (with unit and source in the text)."""
    for model in [Scenario, *SECTIONS.values()]:
        for name, f in model.model_fields.items():
            assert f.description and len(f.description) > 10, f"{model.__name__}.{name}"


def test_json_schema_accepts_shipped_files_and_rejects_typos():
    """The JSON Schema (for editors) takes every shipped file and flags an unknown key."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    for path in SHIPPED:
        data = yaml.safe_load(path.read_text())
        assert not list(check.iter_errors(data)), path.name
    assert list(check.iter_errors({"workload": {"lingr": "25ms"}}))
    assert list(check.iter_errors({"run": {"duration": "1 hour"}}))
    assert list(check.iter_errors({"faults": [{"kind": "region-outag", "at": "5m"}]}))


def test_reference_doc_is_up_to_date():
    """docs/scenarios.md is exactly what `python -m sim.scenario.reference` generates from the models."""
    assert docs.DOC_PATH.read_text() == docs.render(), (
        "run: python -m sim.scenario.reference --write"
    )


def test_reference_covers_every_key_and_fault_kind():
    """The reference names every section key and every fault kind, and its examples validate."""
    text = docs.render()
    for name, model in SECTIONS.items():
        assert f"## `{name}`" in text
        for key in model.model_fields:
            assert f"| `{key}` |" in text
    for m in docs.fault_kinds():
        assert f"### `{docs.kind_of(m)}`" in text
    assert docs._validate_examples() == []
    blocks = re.findall(r"```yaml\n(faults:.*?)```", text, re.S)
    assert len(blocks) == len(docs.fault_kinds())
    for block in blocks:
        data = {"run": {"duration": "2h"}, **yaml.safe_load(block)}
        if data["faults"][0]["kind"] == "replication-paused":  # only an eventual table has it
            data["table"] = {"kind": "eventual"}
        validate_data(data)


def test_ops_per_commit_has_a_ceiling():
    """Each table operation of a commit is planned in a Python loop at the commit's start, so
    an unbounded count (10**12 was accepted: the run grew past 20 GiB inside one step, and the
    property campaign found it) is refused with the field named; 100, the ceiling, runs."""
    from tests.conftest import run_small, small

    with pytest.raises(ScenarioError, match=r"control_plane\.ops_per_commit"):
        validate_data(small({"control_plane.ops_per_commit": 10**12}))
    res = run_small({"control_plane.ops_per_commit": 100}, duration=8.0)
    assert res.summary["files"]["flushed"] > 0
