"""Store kinds: one class per kind, found through the registry; no kind branches elsewhere.

- every configured kind builds its own class through ``Store(name, config)``;
- a kind registered by a test (a throwaway class below) works through the registry, the
  ``fabric://`` filesystem, `resolve` and pickling, with the base class's answers for what
  it does not override;
- a missing optional dependency is one `MissingDependencyError` naming the pip extra;
- outside ``skyfabric/storage/kinds`` no code branches on a store kind (an AST walk).
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel, ConfigDict

import skyfabric
from skyfabric.config import load_config
from skyfabric.errors import ConfigError, MissingDependencyError, StorageClassChangeError
from skyfabric.storage import kinds
from skyfabric.storage.filesystem import FabricFileSystem
from skyfabric.storage.kinds import StoreKind, kind_class, kind_for_scheme, register_kind
from skyfabric.storage.kinds.azure import AzureStore
from skyfabric.storage.kinds.gcs import GCSStore
from skyfabric.storage.kinds.local import LocalStore
from skyfabric.storage.kinds.memory import MemoryStore
from skyfabric.storage.kinds.s3 import S3Store
from skyfabric.storage.resolve import resolve_store_path
from skyfabric.storage.stores import Store, native_protocol

SRC = Path(skyfabric.__file__).resolve().parent
KINDS_DIR = SRC / "storage" / "kinds"

# -- a throwaway kind: a directory tree under a "scratch://" scheme ---------------------------


class ScratchConfig(BaseModel):
    """Config of the test kind: a directory, like `local`, named by its own scheme."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["scratch"] = "scratch"
    path: str
    prefix: str = ""


class ScratchStore(StoreKind):
    """The one file a new kind needs: where its root is, which fsspec class, its options."""

    kind: ClassVar[str] = "scratch"
    scheme: ClassVar[str] = "scratch"
    schemes: ClassVar[tuple[str, ...]] = ("scratch",)
    fsspec_impl: ClassVar[tuple[str, str]] = ("fsspec.implementations.local", "LocalFileSystem")
    hierarchical: ClassVar[bool] = True

    @property
    def root(self) -> str:
        return f"{self.config.path.rstrip('/')}/{self.config.prefix}".rstrip("/")

    def storage_options(self) -> dict[str, Any]:
        return {"auto_mkdir": True}

    def client_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def engine_url(self, key: str) -> str:
        return self.native_path(key)

    def engine_storage_options(self) -> dict[str, Any]:
        return {}


class BrokenDependencyStore(ScratchStore):
    """A kind whose fsspec implementation is not installed."""

    kind: ClassVar[str] = "broken"
    fsspec_impl: ClassVar[tuple[str, str]] = ("skyfabric_no_such_package", "NoFileSystem")
    extra: ClassVar[str | None] = "broken"


@pytest.fixture
def scratch_kind() -> Any:
    register_kind("scratch", ScratchStore)
    yield ScratchStore
    kinds.unregister_kind("scratch")


# -- the registry --------------------------------------------------------------------------


def test_every_configured_kind_builds_its_own_class(tmp_path: Path) -> None:
    cfg = load_config({"stores": {
        "a": {"kind": "s3", "bucket": "raw", "endpoint": "http://127.0.0.1:1"},
        "g": {"kind": "gcs", "bucket": "arch"},
        "z": {"kind": "azure", "container": "feat", "account": "acct"},
        "l": {"kind": "local", "path": str(tmp_path)},
        "m": {"kind": "memory", "root": "kinds-test"},
    }})
    expected = {"a": S3Store, "g": GCSStore, "z": AzureStore, "l": LocalStore, "m": MemoryStore}
    for name, store_config in cfg.stores.items():
        store = Store(name, store_config)
        assert type(store) is expected[name]
        assert isinstance(store, Store)
        assert kind_class(store_config.kind) is expected[name]
        assert native_protocol(store_config.kind) == expected[name].scheme
        clone = pickle.loads(pickle.dumps(store))
        assert type(clone) is expected[name] and clone == store and clone._fs is None
    assert kinds.known_kinds() == ["azure", "gcs", "local", "memory", "s3"]
    assert kind_for_scheme("s3a") is S3Store and kind_for_scheme("wasbs") is AzureStore
    assert kind_for_scheme("ftp") is None


def test_unknown_kind_and_double_registration_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown store kind 'nope'; fix: use one of azure"):
        kind_class("nope")
    with pytest.raises(ConfigError, match="registered already"):
        register_kind("s3", ScratchStore)
    with pytest.raises(ConfigError, match="not a StoreKind subclass"):
        register_kind("other", dict)  # type: ignore[arg-type]


def test_a_new_kind_registered_in_a_test_works_end_to_end(
    scratch_kind: type[StoreKind], tmp_path: Path
) -> None:
    store = Store("tmp", ScratchConfig(path=str(tmp_path), prefix="lake"))
    assert type(store) is ScratchStore and isinstance(store, Store)
    assert store.native_url("a/b.txt") == f"scratch://{tmp_path}/lake/a/b.txt"
    assert store.key_of(store.native_path("a/b.txt")) == "a/b.txt"

    # the fabric:// filesystem routes to it like to any other kind
    fs = FabricFileSystem({"stores": {"mem": {"kind": "memory", "root": "kinds-e2e"}}},
                          skip_instance_cache=True)
    fs.stores["tmp"] = store
    fs.pipe("fabric://tmp/a/b.txt", b"hello")
    assert fs.cat("fabric://tmp/a/b.txt") == b"hello"
    assert (tmp_path / "lake" / "a" / "b.txt").read_bytes() == b"hello"
    assert fs.ls("fabric://tmp/a", detail=False) == ["tmp/a/b.txt"]
    fs.copy("fabric://tmp/a/b.txt", "fabric://mem/b.txt")
    assert fs.cat("fabric://mem/b.txt") == b"hello"

    # engines: resolve() gives its URL and a pyarrow filesystem that reads what fsspec wrote
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "lake" / "t.parquet")
    resolved = resolve_store_path(store, "t.parquet")
    assert resolved.url == f"{tmp_path}/lake/t.parquet" and resolved.kind == "scratch"
    pa_fs, path = resolved.pyarrow_filesystem()
    assert pq.read_table(path, filesystem=pa_fs).column("x").to_pylist() == [1, 2]

    # what the base class answers for a kind that has no such thing
    assert store.storage_classes == () and store.default_class is None
    assert store.read_class(store.native_path("a/b.txt")) is None
    with pytest.raises(StorageClassChangeError, match="kind scratch, which has no storage classes"):
        store.set_class(store.native_path("a/b.txt"), "COLD", 5)
    assert store.trino_root() is None and store.fileio_properties() == {}
    assert store.obstore is None
    assert store.price_provider == "scratch" and store.list_price("X").storage_gb_month == 0

    # it pickles as (name, config) and rebuilds its client in the receiving process
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone._fs is None and clone.fs.cat(clone.native_path("a/b.txt")) == b"hello"
    assert kind_for_scheme("scratch") is ScratchStore

    # Iceberg locations of the new scheme map to its stores (pyiceberg FileIO routing)
    from skyfabric.tables._fileio import parse_location, store_for_location

    loc = parse_location(f"scratch://{tmp_path}/lake/wh/t/data/x.parquet")
    assert (loc.kind, loc.path) == ("scratch", f"{tmp_path}/lake/wh/t/data/x.parquet")
    assert store_for_location({"tmp": store}, f"scratch://{tmp_path}/lake/wh/x.parquet") is store


def test_a_kind_registered_by_path_is_imported_on_first_use(tmp_path: Path) -> None:
    register_kind("scratch-by-path", f"{__name__}:ScratchStore")
    try:
        assert kind_class("scratch-by-path") is ScratchStore
    finally:
        kinds.unregister_kind("scratch-by-path")


def test_missing_dependency_names_the_pip_extra(tmp_path: Path) -> None:
    register_kind("broken", BrokenDependencyStore)
    register_kind("broken-module", "skyfabric_no_such_module.kinds:Store", extra="broken")
    try:
        store = Store("b", ScratchConfig.model_construct(kind="broken", path=str(tmp_path)))
        with pytest.raises(MissingDependencyError, match=r"pip install 'skyfabric\[broken\]'"):
            store.fs  # noqa: B018
        with pytest.raises(MissingDependencyError, match=r"pip install 'skyfabric\[broken\]'"):
            kind_class("broken-module")
    finally:
        kinds.unregister_kind("broken")
        kinds.unregister_kind("broken-module")


def test_repr_names_the_store_and_never_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINDS_TEST_SECRET", "s3cr3t-value-never-shown")
    cfg = load_config({"stores": {"a": {
        "kind": "s3", "bucket": "raw", "endpoint": "http://127.0.0.1:1",
        "access_key_env": "KINDS_TEST_SECRET", "secret_key_env": "KINDS_TEST_SECRET"}}})
    store = Store("a", cfg.stores["a"])
    assert store.storage_options()["secret"] == "s3cr3t-value-never-shown"
    assert repr(store).startswith("S3Store(name='a', config=")
    assert "s3cr3t" not in repr(store) and "KINDS_TEST_SECRET" in repr(store)


# -- no store-kind branches outside storage/kinds ---------------------------------------------

# path (relative to src/skyfabric) -> why a branch there is not about a store kind
ALLOWED: dict[str, str] = {}


def _store_config_names() -> set[str]:
    from typing import get_args

    from skyfabric.config import StoreConfig

    return {m.__name__ for m in get_args(get_args(StoreConfig)[0])}


def _kind_literals(node: ast.AST, kind_names: set[str]) -> bool:
    """Whether ``node`` is a store-kind string or a tuple/list/set of them."""
    if isinstance(node, ast.Constant):
        return node.value in kind_names
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_kind_literals(e, kind_names) for e in node.elts)
    return False


def _names_a_kind(node: ast.AST) -> bool:
    """``x.kind``, ``kind``, ``store_kind``: an expression that holds a store kind."""
    if isinstance(node, ast.Attribute):
        return node.attr == "kind"
    return isinstance(node, ast.Name) and node.id.endswith("kind")


def kind_branches(code: str, label: str, kind_names: set[str], config_names: set[str]) -> list[str]:
    """``label:line: code`` of each branch on a store kind in ``code``:
    ``isinstance(x, S3StoreConfig)`` or ``<...>.kind ==/!=/in/not in "<kind>"``."""
    tree = ast.parse(code)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance" and len(node.args) == 2):
            named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            if named & config_names:
                found.append(f"{label}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_names_a_kind(s) for s in sides) and any(_kind_literals(s, kind_names) for s in sides):
                found.append(f"{label}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_store_kind_branches_outside_the_kind_classes() -> None:
    kind_names = set(kinds.known_kinds())
    config_names = _store_config_names()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if KINDS_DIR in path.parents or str(path.relative_to(SRC)) in ALLOWED:
            continue
        found += kind_branches(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)),
                               kind_names, config_names)
    assert found == [], (
        "store-kind branches outside skyfabric/storage/kinds (move them into the kind classes "
        "as methods, or add the file to ALLOWED with the reason):\n" + "\n".join(found)
    )


def test_the_branch_finder_finds_branches() -> None:
    code = (
        "def f(store, cfg, kind):\n"
        "    if store.kind == 's3': pass\n"
        "    if cfg.kind in ('local', 'memory'): pass\n"
        "    if kind != 'azure': pass\n"
        "    if isinstance(cfg, S3StoreConfig | GCSStoreConfig): pass\n"
        "    if h.kind == 'numeric' or cat.kind == 'rest' or engine == 'local': pass\n"
    )
    found = kind_branches(code, "sample.py", set(kinds.known_kinds()), _store_config_names())
    assert [line.split(":")[1] for line in found] == ["2", "3", "4", "5"]
