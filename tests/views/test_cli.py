"""``skyfabric views render|apply`` on view files (TOML, YAML, Python) over local stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from skyfabric.fabric import Fabric
from skyfabric.views import InvalidViewError
from skyfabric.views.files import load_views

TOML_VIEW = '''
name = "by carrier"
catalog = "lake"
schema = "bi"
security = "invoker"
select = ["a.name", "count(*) AS flights"]
where = ["f.month = 3"]
group_by = ["a.name"]

[sources.f]
parquet = "fabric://lake/flights/"

[sources.a]
parquet = "fabric://features/airlines/"
keys = ["carrier"]
'''

YAML_VIEW = '''
sql: |
  CREATE VIEW lake.bi.planes_per_maker AS
  SELECT manufacturer, count(*) AS planes FROM archive_hive.raw.planes GROUP BY manufacturer
sources:
  archive_hive.raw.planes:
    parquet: fabric://archive/planes/
'''

PY_VIEW = '''
from skyfabric.views import View, parquet

view = (View("first_flights", catalog="lake").from_("f", parquet("fabric://lake/flights/"))
        .where("f.month = 1", "f.day = 1").select("f.carrier", "f.flight"))
'''


@pytest.fixture
def setup(local_fabric: Fabric, tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "skyfabric.toml"
    config.write_text("".join(f'[stores."{n}"]\nkind = "local"\npath = "{s.config.path.as_posix()}"\n'
                              for n, s in local_fabric.stores.items()), encoding="utf-8")
    views = tmp_path / "views"
    views.mkdir()
    (views / "carriers.toml").write_text(TOML_VIEW, encoding="utf-8")
    (views / "makers.yaml").write_text(YAML_VIEW, encoding="utf-8")
    (views / "first.py").write_text(PY_VIEW, encoding="utf-8")
    return config, views


def _run(app: typer.Typer, config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), "views", *args])
    return result.exit_code, result.stdout, result.stderr


def test_render_each_file_kind(setup: tuple[Path, Path], cli_app: typer.Typer) -> None:
    config, views = setup
    code, out, _ = _run(cli_app, config, "render", str(views / "carriers.toml"), "--no-pretty", "--strict")
    assert code == 0
    assert out == (
        'CREATE OR REPLACE VIEW lake.bi."by carrier" SECURITY INVOKER AS SELECT a.name, COUNT(*) AS flights '
        "FROM lake_hive.raw.flights AS f INNER JOIN features_hive.raw.airlines AS a ON f.carrier = a.carrier "
        "WHERE f.month = 3 GROUP BY a.name;\n\n"
    )
    code, out, _ = _run(cli_app, config, "render", str(views / "makers.yaml"), "--no-pretty")
    assert code == 0 and out.startswith("CREATE OR REPLACE VIEW lake.bi.planes_per_maker AS SELECT manufacturer")
    code, out, _ = _run(cli_app, config, "render", str(views / "first.py"), "--engine", "duckdb")
    assert code == 0
    assert out == ('SELECT "f"."carrier", "f"."flight" FROM "lake_hive"."raw"."flights" AS "f" '
                   'WHERE "f"."month" = 1 AND "f"."day" = 1;\n\n')


def test_apply_duckdb_prints_rows(setup: tuple[Path, Path], cli_app: typer.Typer) -> None:
    config, views = setup
    code, out, _ = _run(cli_app, config, "apply", str(views / "carriers.toml"), "--json", "--limit", "100")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["view"] == "lake.bi.by carrier" and entry["engine"] == "duckdb"
    assert sum(r["flights"] for r in entry["rows"]) == 28834  # every flight of March 2013
    code, out, _ = _run(cli_app, config, "apply", str(views / "makers.yaml"))
    assert code == 0 and "planes_per_maker" in out and "BOEING" in out


def test_errors_exit_2_with_a_clear_message(setup: tuple[Path, Path], cli_app: typer.Typer, tmp_path: Path) -> None:
    config, views = setup
    bad = tmp_path / "bad.toml"
    bad.write_text(TOML_VIEW.replace('"a.name", ', '"a.nmae", '), encoding="utf-8")
    code, _, err = _run(cli_app, config, "render", str(bad))
    assert code == 2 and "has no column 'nmae'" in err and "Did you mean name" in err
    code, _, err = _run(cli_app, config, "render", str(views / "carriers.toml"), "--all")
    assert code == 2 and "which a Trino cluster cannot reach" in err
    odd = tmp_path / "odd.toml"
    odd.write_text('name = "x"\nfilter = "a"\n', encoding="utf-8")
    code, _, err = _run(cli_app, config, "render", str(odd))
    assert code == 2 and "unknown keys ['filter']" in err


def test_load_views_rejects_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidViewError, match="unknown view file type"):
        load_views(tmp_path / "x.json")
    (tmp_path / "y.toml").write_text('name = "y"\n[sources.a]\nparquet = "fabric://a/b/"\niceberg = "n.t"\n')
    with pytest.raises(InvalidViewError, match="exactly one of parquet"):
        load_views(tmp_path / "y.toml")
    (tmp_path / "z.py").write_text("x = 1\n")
    with pytest.raises(InvalidViewError, match="defines no `view`"):
        load_views(tmp_path / "z.py")
