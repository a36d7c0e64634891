"""Selection for tests/storage/test_fsspec_abstract.py (fsspec's abstract suite).

fsspec parametrizes each ``test_*_glob_edge_cases`` 32 ways; on the emulators one case costs
about a second, so the default run keeps the full set on ``local`` and ``memory`` and a
representative 7 of 32 on the cloud kinds: a non-recursive glob, ``*`` and ``**`` with and
without ``maxdepth``, ``**`` below a folder, and character classes over folders and files.
``minio`` is left to the full run: in the suite it is the same moto server software, with
the same store options and the same s3fs client as ``s3`` (both have an endpoint and use
path-style requests), so it would repeat the ``s3`` run exactly.
``SKYFABRIC_FSSPEC_ABSTRACT=full`` runs every case on every kind.
"""

from __future__ import annotations

import os

import pytest

ABSTRACT_MODULE = "test_fsspec_abstract.py"
CHEAP_KINDS = ("local", "memory")
# Indexes into fsspec.tests.abstract.common.GLOB_EDGE_CASES_TESTS["argvalues"] (the
# ``expected<N>`` of each test id): fil?1; * -r maxdepth 2; ** -r; **/*1; **/subdir0 -r;
# subdir[1-2] -r maxdepth 2; subdir[0-1]/*fil[e]* -r.
CLOUD_GLOB_CASES = {0, 7, 12, 16, 22, 27, 31}


def _kept(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return True
    if callspec.params.get("kind") == "minio":
        return False
    if "glob_edge_cases" not in item.name or callspec.params.get("kind") in CHEAP_KINDS:
        return True
    case = callspec.id.rsplit("expected", 1)[-1]
    return case.isdigit() and int(case) in CLOUD_GLOB_CASES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SKYFABRIC_FSSPEC_ABSTRACT") == "full":
        return
    kept, dropped = [], []
    for item in items:
        in_module = item.nodeid.split("::", 1)[0].endswith(ABSTRACT_MODULE)
        (kept if not in_module or _kept(item) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
