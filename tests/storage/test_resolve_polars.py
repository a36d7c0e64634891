"""polars through ``resolve()`` on a GCS store with an endpoint: polars ignores
``gcs_base_url`` as an option and reads it only from a service-account JSON, so that is what
resolve passes. Reads only against fake-gcs-server (writes through object_store's XML API are
refused by that emulator: FINDINGS.md); the reads are real, through polars."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import skyfabric
from skyfabric.errors import ConfigError, redact

pytestmark = pytest.mark.xdist_group("servers")

pl = pytest.importorskip("polars")


@pytest.fixture
def gcs_store(make_bucket) -> dict:
    return make_bucket("gcs")


def test_polars_reads_and_scans_from_the_gcs_endpoint(gcs_store: dict) -> None:
    fab = skyfabric.connect({"stores": {"g": gcs_store}})
    buf = io.BytesIO()
    pl.DataFrame({"id": [1, 2, 3], "city": ["Oslo", "Lima", "Pune"]}).write_parquet(buf)
    fab.fs.pipe({"fabric://g/d/part-0.parquet": buf.getvalue(),
                 "fabric://g/d/part-1.parquet": buf.getvalue()})
    one = fab.resolve("fabric://g/d/part-0.parquet")
    options = one.polars_storage_options()
    assert "gcs_base_url" not in options  # polars would ignore it and go to Google
    assert json.loads(options["google_service_account_key"])["gcs_base_url"] == gcs_store["endpoint"]
    assert pl.read_parquet(one.url, storage_options=options)["id"].to_list() == [1, 2, 3]
    tree = fab.resolve("fabric://g/d/")
    lazy = pl.scan_parquet(tree.url + "*.parquet", storage_options=tree.polars_storage_options())
    assert lazy.select(pl.col("id").sum()).collect().item() == 12


def test_service_account_file_gets_the_endpoint_and_stays_secret(
    gcs_store: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_key = "-----BEGIN PRIVATE KEY-----\\nnot-a-real-key-7c1f\\n-----END PRIVATE KEY-----\\n"
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "client_email": "sf@test.iam.gserviceaccount.com",
        "private_key": private_key, "private_key_id": "k1",
    }))
    monkeypatch.setenv("SF_TEST_GCS_TOKEN", str(key_file))
    cfg = {k: v for k, v in gcs_store.items() if k != "anonymous"}
    fab = skyfabric.connect({"stores": {"g": {**cfg, "token_file_env": "SF_TEST_GCS_TOKEN"}}})
    options = fab.resolve("fabric://g/x.parquet").polars_storage_options()
    account = json.loads(options["google_service_account_key"])
    assert account["gcs_base_url"] == gcs_store["endpoint"]
    assert account["private_key"] == private_key
    assert redact(f"oops {options['google_service_account_key']}") == "oops ***"


def test_a_credential_polars_cannot_point_at_the_endpoint_is_refused(
    gcs_store: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_creds = tmp_path / "adc.json"
    user_creds.write_text(json.dumps({"type": "authorized_user", "refresh_token": "r"}))
    monkeypatch.setenv("SF_TEST_GCS_TOKEN", str(user_creds))
    cfg = {k: v for k, v in gcs_store.items() if k != "anonymous"}
    fab = skyfabric.connect({"stores": {"g": {**cfg, "token_file_env": "SF_TEST_GCS_TOKEN"}}})
    with pytest.raises(ConfigError, match=r"service-account JSON.*fix: .*anonymous = true"):
        fab.resolve("fabric://g/x.parquet").polars_storage_options()
