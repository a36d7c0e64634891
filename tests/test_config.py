"""Configuration: load order, validation messages, secrets by reference only."""

from __future__ import annotations

from pathlib import Path

import pytest

import skyfabric
from skyfabric.config import LocalStoreConfig, load_config
from skyfabric.errors import ConfigError

DESIGN_EXAMPLE = """
[stores.onprem]
kind = "s3"
bucket = "telemetry-raw"
endpoint = "http://minio.factory.local:9000"
region = "us-east-1"
access_key_env = "MINIO_ACCESS_KEY"
secret_key_env = "MINIO_SECRET_KEY"
tier = "hot"

[stores.lake]
kind = "s3"
bucket = "acme-lake"
prefix = "prod"
region = "us-west-2"
profile = "prod"
storage_class = "STANDARD"

[stores.archive]
kind = "gcs"
bucket = "acme-archive"
project = "acme-ml"
token_file_env = "GOOGLE_APPLICATION_CREDENTIALS"
storage_class = "COLDLINE"
tier = "cold"

[stores.features]
kind = "azure"
container = "features"
account = "acmefeatures"
connection_string_env = "AZURE_STORAGE_CONNECTION_STRING"

[stores.scratch]
kind = "local"
path = "/data/scratch"

[catalog]
kind = "sql"
uri = "sqlite:///var/lib/skyfabric/catalog.db"
warehouse = "fabric://lake/warehouse"

[[placement.rules]]
name = "telemetry-cold"
match = "fabric://onprem/telemetry/**"
older_than = "30d"
target = "archive"
priority = 10
"""


def test_design_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIO_ACCESS_KEY", "minio-key")
    monkeypatch.setenv("MINIO_SECRET_KEY", "minio-secret")
    path = tmp_path / "skyfabric.toml"
    path.write_text(DESIGN_EXAMPLE)
    cfg = load_config(path)
    assert sorted(cfg.stores) == ["archive", "features", "lake", "onprem", "scratch"]
    fab = skyfabric.connect(path)
    assert fab.store("lake").root == "acme-lake/prod"
    assert fab.resolve("fabric://onprem/2026/11/day.parquet").url.endswith(
        "telemetry-raw/2026/11/day.parquet"
    )


def test_unknown_key_names_field_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[stores.a]\nkind = "s3"\nbucket = "b-ok"\nbuckt = "typo"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "stores.a.buckt" in msg and "unknown key" in msg and "bad.toml" in msg


def test_bad_kind_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown store kind"):
        load_config({"stores": {"a": {"kind": "ftp"}}})
    with pytest.raises(ConfigError, match="endpoint"):
        load_config({"stores": {"a": {"kind": "s3", "bucket": "abc", "endpoint": "minio:9000"}}})
    with pytest.raises(ConfigError, match="bucket is empty"):
        load_config({"stores": {"a": {"kind": "gcs", "bucket": ""}}})
    with pytest.raises(ConfigError, match="store name"):
        load_config({"stores": {"a b": {"kind": "memory"}}})


def test_inverted_drift_thresholds_fail_at_load(tmp_path: Path) -> None:
    """moderate above significant used to load, then fail each check at exit 1 with a fix
    phrased as Python arguments; it is an invalid configuration like any other value."""
    path = tmp_path / "skyfabric.toml"
    path.write_text("[drift]\nmoderate = 0.3\nsignificant = 0.2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert f"invalid configuration in {path}" in msg
    assert "drift: moderate = 0.3 is above significant = 0.2" in msg
    assert "fix: in the [drift] section" in msg and "moderate = 0.1 and significant = 0.25" in msg
    with pytest.raises(ConfigError, match=r"moderate = 0\.3 is above significant = 0\.25"):
        load_config({"drift": {"moderate": 0.3}})  # against the default significant
    same = load_config({"drift": {"moderate": 0.2, "significant": 0.2}})  # equal is allowed
    assert (same.drift.moderate, same.drift.significant) == (0.2, 0.2)


def test_source_key_is_not_silently_accepted() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        load_config({"source": "me", "stores": {}})


def test_missing_config_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYFABRIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKYFABRIC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    default = load_config()
    assert default.source == "embedded default"
    local = default.stores["local"]
    assert isinstance(local, LocalStoreConfig) and local.path == tmp_path / "data" / "lake"
    (tmp_path / "skyfabric.toml").write_text('[stores.cwd]\nkind = "memory"\n')
    assert list(load_config().stores) == ["cwd"]
    other = tmp_path / "other.toml"
    other.write_text('[stores.env]\nkind = "memory"\n')
    monkeypatch.setenv("SKYFABRIC_CONFIG", str(other))
    assert list(load_config().stores) == ["env"]


def test_missing_env_var_and_secret_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {
        "stores": {
            "m": {
                "kind": "s3",
                "bucket": "abc",
                "access_key_env": "SF_T_KEY",
                "secret_key_env": "SF_T_SECRET",
                "endpoint": "http://127.0.0.1:1",
            }
        }
    }
    fab = skyfabric.connect(cfg)
    monkeypatch.delenv("SF_T_KEY", raising=False)
    with pytest.raises(ConfigError, match="SF_T_KEY"):
        fab.store("m").storage_options()
    monkeypatch.setenv("SF_T_KEY", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("SF_T_SECRET", "wJalrXUtnFEMI-very-secret")
    resolved = fab.resolve("fabric://m/x")
    assert "wJalrXUtnFEMI-very-secret" not in repr(resolved)
    assert "wJalrXUtnFEMI-very-secret" not in repr(fab.config)
    assert "wJalrXUtnFEMI-very-secret" not in repr(fab)
    from skyfabric.errors import StoreError

    assert "wJalrXUtnFEMI" not in str(StoreError("boom with wJalrXUtnFEMI-very-secret inside"))
