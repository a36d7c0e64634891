"""Rules: validation at load, glob matching, conditions, priority and specificity."""

from __future__ import annotations

import tempfile
import time

import pytest
from placement_data import DAY

import skyfabric
from skyfabric.placement import Placement, RuleError
from skyfabric.placement.policy import ObjectFacts, glob_regex, literal_prefix, parse_duration

STORES = {
    "hot": {"kind": "memory", "root": "pol-hot"},
    "cold": {"kind": "memory", "root": "pol-cold"},
    "lake": {"kind": "s3", "bucket": "lake-bucket", "region": "us-west-2"},
}


def _placement(rules: list[dict], **extra: object) -> Placement:
    return Placement(
        skyfabric.connect({"stores": STORES}),
        {"rules": rules, **extra},
        state_dir=tempfile.mkdtemp(),
    )


def test_durations() -> None:
    assert parse_duration("30d") == 30 * DAY
    assert parse_duration("1.5h") == 5400
    assert parse_duration("2w") == 14 * DAY
    with pytest.raises(RuleError, match="not a duration"):
        parse_duration("30 days")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"match": "fabric://hot/**", "target": "cold", "storage_class": "X"},
            "exactly one action",
        ),
        ({"match": "fabric://hot/**"}, "exactly one action"),
        ({"match": "fabric://nope/**", "target": "cold"}, "not configured"),
        ({"match": "fabric://hot/**", "target": "nope"}, "not configured"),
        ({"match": "fabric://hot/**", "target": "hot"}, "source store"),
        ({"match": "s3://hot/**", "target": "cold"}, "must start with fabric://"),
        ({"match": "fabric://h*/**", "target": "cold"}, "one store literally"),
        ({"match": "fabric://hot/**", "storage_class": "STANDARD_IA"}, "not a class of a memory"),
        ({"match": "fabric://lake/**", "storage_class": "COLDLINE"}, "STANDARD_IA"),
        ({"match": "fabric://hot/**", "target": "cold", "older_than": "soon"}, "not a duration"),
        ({"match": "fabric://hot/**", "target": "cold", "min_size": 9, "max_size": 1}, "min_size"),
    ],
)
def test_invalid_rules_are_refused_at_load(rule: dict, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        _placement([{"name": "r", **rule}])


def test_duplicate_names_and_unknown_keys() -> None:
    rule = {"name": "r", "match": "fabric://hot/**", "target": "cold"}
    with pytest.raises(RuleError, match="defined twice"):
        _placement([rule, rule])
    with pytest.raises(RuleError, match="colour: unknown key"):
        _placement([{**rule, "colour": "blue"}])
    with pytest.raises(RuleError, match="residency"):
        _placement([rule], residency=[{"match": "fabric://hot/**"}])


def test_rules_from_the_configuration() -> None:
    fab = skyfabric.connect(
        {
            "stores": STORES,
            "placement": {"rules": [{"name": "r", "match": "fabric://hot/a/**", "target": "cold"}]},
        }
    )
    assert [r.name for r in Placement(fab, state_dir=tempfile.mkdtemp()).rules] == ["r"]


def test_globs() -> None:
    assert glob_regex("logs/**").match("logs/a/b/c.bin")
    assert glob_regex("logs/*.bin").match("logs/c.bin")
    assert not glob_regex("logs/*.bin").match("logs/a/c.bin")
    assert glob_regex("**/x?.csv").match("x1.csv")
    assert glob_regex("**/x?.csv").match("a/b/x1.csv")
    assert literal_prefix("telemetry/2026/**") == "telemetry/2026"
    assert literal_prefix("tele*/x") == ""
    assert literal_prefix("a/b.bin") == "a/b.bin"


def _facts(
    key: str, size: int = 100, age_days: float = 0, accessed_days: float | None = None
) -> ObjectFacts:
    now = time.time()
    return ObjectFacts(
        store="hot",
        key=key,
        size=size,
        modified=now - age_days * DAY,
        accessed=None if accessed_days is None else now - accessed_days * DAY,
        tags=lambda: {"team": "ml"},
    )


def test_conditions() -> None:
    p = _placement(
        [
            {"name": "age", "match": "fabric://hot/a/**", "older_than": "30d", "target": "cold"},
            {
                "name": "idle",
                "match": "fabric://hot/b/**",
                "not_accessed_for": "90d",
                "target": "cold",
            },
            {
                "name": "size",
                "match": "fabric://hot/c/**",
                "min_size": 10,
                "max_size": 20,
                "target": "cold",
            },
            {
                "name": "tags",
                "match": "fabric://hot/d/**",
                "tags": {"team": "ml"},
                "target": "cold",
            },
            {
                "name": "tags2",
                "match": "fabric://hot/e/**",
                "tags": {"team": "bi"},
                "target": "cold",
            },
        ]
    )
    rules = {r.name: r for r in p.rules}
    now = time.time()
    assert rules["age"].matches(_facts("a/x", age_days=31), now)
    assert not rules["age"].matches(_facts("a/x", age_days=29), now)
    assert not rules["age"].matches(_facts("b/x", age_days=31), now)
    # never read: last write counts as the last access
    assert rules["idle"].matches(_facts("b/x", age_days=100), now)
    assert not rules["idle"].matches(_facts("b/x", age_days=100, accessed_days=5), now)
    assert rules["size"].matches(_facts("c/x", size=15), now)
    assert not rules["size"].matches(_facts("c/x", size=21), now)
    assert rules["tags"].matches(_facts("d/x"), now)
    assert not rules["tags2"].matches(_facts("e/x"), now)


def test_priority_then_specificity_wins_and_plan_says_which() -> None:
    fab = skyfabric.connect({"stores": STORES})
    fab.fs.pipe_file("fabric://hot/logs/app/1.log", b"x" * 10)
    fab.fs.pipe_file("fabric://hot/logs/web/1.log", b"y" * 10)
    rules = [
        {"name": "broad", "match": "fabric://hot/**", "target": "cold"},
        {"name": "specific", "match": "fabric://hot/logs/app/**", "target": "lake"},
        {"name": "urgent", "match": "fabric://hot/logs/web/**", "target": "lake", "priority": -1},
    ]
    plan = Placement(fab, {"rules": rules}, state_dir=tempfile.mkdtemp()).plan()
    by_src = {m.src: m for m in plan.moves}
    app = by_src["fabric://hot/logs/app/1.log"]
    assert (app.rule, app.overruled, app.dst) == (
        "specific",
        ("broad",),
        "fabric://lake/logs/app/1.log",
    )
    web = by_src["fabric://hot/logs/web/1.log"]
    assert (web.rule, web.overruled) == ("broad", ("urgent",))  # priority beats specificity
    assert "over urgent" in web.reason
    fab.fs.rm("fabric://hot/logs", recursive=True)


def test_access_log_feeds_not_accessed_for(tmp_path) -> None:
    fab = skyfabric.connect({"stores": {**STORES, "hot": {"kind": "memory", "root": "pol-acc"}}})
    fab.fs.pipe_file("fabric://hot/m/read.bin", b"r")
    fab.fs.pipe_file("fabric://hot/m/idle.bin", b"i")
    rules = [
        {"name": "idle", "match": "fabric://hot/m/**", "not_accessed_for": "90d", "target": "cold"}
    ]
    p = Placement(fab, {"rules": rules}, state_dir=tmp_path)
    later = time.time() + 100 * DAY
    p.record_access("fabric://hot/m/read.bin", when=later - DAY)
    assert [m.src for m in p.plan(now=later).moves] == ["fabric://hot/m/idle.bin"]
