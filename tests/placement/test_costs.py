"""Cost model: list prices, monthly before/after, early deletion, offline flags, overrides."""

from __future__ import annotations

import tempfile
import time

import pytest
from placement_data import DAY

from skyfabric.config import load_config
from skyfabric.placement import Placement, ResidencyError
from skyfabric.placement.costs import GB, PriceTable, provider_of
from skyfabric.placement.planner import build_plan
from skyfabric.placement.policy import ObjectFacts
from skyfabric.storage.stores import Store

STORES = {
    "lake": {"kind": "s3", "bucket": "lake-bucket", "region": "eu-west-1"},
    "onprem": {
        "kind": "s3",
        "bucket": "raw",
        "endpoint": "http://minio:9000",
        "region": "eu-west-1",
    },
    "archive": {
        "kind": "gcs",
        "bucket": "arch-bucket",
        "storage_class": "COLDLINE",
        "region": "europe-west1",
    },
    "us": {"kind": "azure", "container": "feat", "access_tier": "Cool", "region": "eastus"},
}


def _stores() -> dict[str, Store]:
    cfg = load_config({"stores": STORES})
    return {name: Store(name, c) for name, c in cfg.stores.items()}


def _plan(rules: list[dict], facts: list[ObjectFacts], now: float, **settings: object):
    import skyfabric

    p = Placement(
        skyfabric.connect({"stores": STORES}),
        {"rules": rules, **settings},
        state_dir=tempfile.mkdtemp(),
    )
    return build_plan(_stores(), p.rules, p.prices, p.settings.residency, now=now, objects=facts)


def test_providers_and_list_prices() -> None:
    cfg = load_config({"stores": STORES})
    assert [provider_of(c) for c in cfg.stores.values()] == ["aws", "s3-compatible", "gcs", "azure"]
    table = PriceTable(cfg.stores)
    assert table.price("lake", None).storage_gb_month == 0.023
    assert table.price("lake", "DEEP_ARCHIVE").offline
    assert table.price("archive", None).storage_gb_month == 0.004  # the store's class: COLDLINE
    assert table.price("us", "Archive").min_days == 180
    assert table.monthly("onprem", None, 10 * GB) == 0.0


def test_in_place_class_change_prices_and_early_deletion() -> None:
    now = time.time()
    young = ObjectFacts(
        "lake", "models/a.bin", 100 * GB, now - 40 * DAY, storage_class="STANDARD_IA"
    )
    old = ObjectFacts("lake", "models/b.bin", 100 * GB, now - 400 * DAY, storage_class="STANDARD")
    rules = [
        {
            "name": "deep",
            "match": "fabric://lake/models/**",
            "older_than": "30d",
            "storage_class": "DEEP_ARCHIVE",
        }
    ]
    plan = _plan(rules, [young, old], now)
    a, b = sorted(plan.moves, key=lambda m: m.src)
    assert a.monthly_before == pytest.approx(100 * 0.0125)
    assert b.monthly_before == pytest.approx(100 * 0.023)
    assert a.monthly_after == pytest.approx(100 * 0.00099)
    assert "offline_target" in a.flags and "offline_target" in b.flags
    assert a.early_deletion == 0.0  # 40 days > STANDARD_IA's 30
    # retrieval out of IA + one transition request into DEEP_ARCHIVE
    assert a.one_time == pytest.approx(100 * 0.01 + 0.05 / 1000)
    assert plan.monthly_before == pytest.approx(100 * 0.0125 + 100 * 0.023)
    assert plan.monthly_delta < 0
    data = plan.to_dict()
    assert data["flags"] == ["offline_target"]
    assert data["items"][0]["reason"] == "rule 'deep'"


def test_move_charges_early_deletion_and_egress() -> None:
    now = time.time()
    obj = ObjectFacts("archive", "t/x.parquet", 10 * GB, now - 30 * DAY)  # COLDLINE: 90 d minimum
    rules = [{"name": "back", "match": "fabric://archive/t/**", "target": "lake"}]
    (move,) = _plan(rules, [obj], now).moves
    assert move.early_deletion == pytest.approx(10 * 0.004 * 60 / 30)
    expected = 10 * 0.02 + move.early_deletion + 10 * 0.12 + 0.005 / 1000
    assert move.one_time == pytest.approx(expected)
    assert move.flags == ("early_deletion",)


def test_offline_objects_are_skipped_with_a_reason() -> None:
    now = time.time()
    obj = ObjectFacts("lake", "m/x", GB, now - 400 * DAY, storage_class="GLACIER")
    plan = _plan([{"name": "r", "match": "fabric://lake/m/**", "target": "archive"}], [obj], now)
    assert plan.moves == [] and "offline class GLACIER" in plan.skipped[0]["reason"]


def test_price_overrides() -> None:
    now = time.time()
    obj = ObjectFacts("onprem", "t/x", 10 * GB, now - 100 * DAY)
    rules = [{"name": "cold", "match": "fabric://onprem/t/**", "target": "archive"}]
    prices = {"onprem": {"storage_gb_month": 0.05}, "gcs:COLDLINE": {"storage_gb_month": 0.001}}
    plan = _plan(rules, [obj], now, prices=prices)
    assert plan.monthly_before == pytest.approx(0.5)
    assert plan.monthly_after == pytest.approx(0.01)
    assert "monthly cost $0.5000 -> $0.0100" in plan.render()


def test_residency_refuses_the_plan() -> None:
    now = time.time()
    objs = [ObjectFacts("lake", "customers/eu.csv", 100, now - 100 * DAY)]
    rules = [{"name": "r", "match": "fabric://lake/customers/**", "target": "us"}]
    residency = [{"match": "fabric://lake/customers/**", "regions": ["eu"]}]
    with pytest.raises(ResidencyError, match=r"region eastus.*\['eu'\]"):
        _plan(rules, objs, now, residency=residency)
    ok = [{"name": "r", "match": "fabric://lake/customers/**", "target": "archive"}]
    assert len(_plan(ok, objs, now, residency=residency).moves) == 1  # europe-west1 is in eu
