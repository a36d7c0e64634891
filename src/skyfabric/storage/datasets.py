"""Open parquet/CSV data at a fabric URL as a ``pyarrow.dataset.Dataset``.

A URL may name one file, a prefix (hive partitions such as ``month=7/`` are discovered), or
a glob (``fabric://lake/flights/*.parquet``). Local stores are read with pyarrow's native
filesystem (no Python in the read path); other stores through their fsspec client.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from skyfabric.errors import ObjectNotFoundError
from skyfabric.storage.paths import GLOB_CHARS, PREFIX, is_hidden_name, parse, partition_base
from skyfabric.storage.resolve import resolve_store_path

if TYPE_CHECKING:
    import pyarrow.dataset as pads

    from skyfabric.storage.filesystem import FabricFileSystem

__all__ = ["open_dataset"]


def _files_under(fs: FabricFileSystem, path: str) -> list[str]:
    """``[path]`` for a file; for a folder (a glob of partition folders such as
    ``year=200[0-3]/``) the files below it whose path has no hidden segment (``_SUCCESS``,
    ``.tmp``, ``_temporary/``)."""
    if fs.isfile(path):
        return [path]
    if not fs.isdir(path):
        return []
    top = path.rstrip("/")
    return [
        f
        for f in sorted(fs.find(top))
        if not any(is_hidden_name(seg) for seg in f[len(top) :].split("/") if seg)
    ]


def open_dataset(
    fs: FabricFileSystem, url: str, *, format: str | None = None, **kwargs: Any
) -> pads.Dataset:
    """Open ``url`` as a pyarrow dataset (lazy: nothing is read until scanned).

    Args:
        fs: the fabric filesystem holding the store configuration.
        url: ``fabric://<store>/<file|prefix|glob>``.
        format: ``"parquet"`` (default) or ``"csv"``; guessed from a ``.csv`` suffix.
        kwargs: passed to `pyarrow.dataset.dataset` (e.g. ``partitioning``).

    Raises:
        ObjectNotFoundError: nothing exists at ``url`` / the glob matches nothing.
    """
    import pyarrow.dataset as pads  # imports pandas: keep `import skyfabric` light

    fp = parse(url)
    store = fs.store(fp.store)
    if format is None:
        format = "csv" if fp.key.lower().endswith((".csv", ".csv.gz")) else "parquet"
    kwargs.setdefault("partitioning", "hive")
    base = partition_base(fp.key)
    hive = kwargs["partitioning"] == "hive" or isinstance(
        kwargs["partitioning"], pads.HivePartitioning | pads.PartitioningFactory
    )  # a factory: hive discovery with some fields typed
    if base is not None and hive:
        # "flights/month=7/" keeps month=7 as a column, as reading "flights/" would
        kwargs.setdefault("partition_base_dir", resolve_store_path(store, base).path)
    if GLOB_CHARS & set(fp.key) and not fs.exists(fp.path):  # a folder named run[1] is no glob
        matches = sorted(fs.glob(fp.path))
        files = [
            f
            for m in matches
            if not is_hidden_name(posixpath.basename(m.rstrip("/")))
            for f in _files_under(fs, m)
        ]
        if not files:
            raise ObjectNotFoundError(f"the glob {url!r} matches no file; fix: check the pattern")
        resolved = [resolve_store_path(store, parse(m).key) for m in files]
        pa_fs, _ = resolved[0].pyarrow_filesystem()
        if "partition_base_dir" not in kwargs:
            kwargs.pop("partitioning")
        return pads.dataset([r.path for r in resolved], filesystem=pa_fs, format=format, **kwargs)
    resolved = resolve_store_path(store, fp.key)
    pa_fs, path = resolved.pyarrow_filesystem()
    if not fs.exists(fp.path):
        raise ObjectNotFoundError(
            f"no file or prefix at {PREFIX}{fp.path}; fix: check the URL (store, path, "
            f"partition), e.g. list what is there with: skyfabric ls {PREFIX}{fp.store}/"
        )
    # Skip our own in-flight temporaries and hidden files, as pyarrow does for "_" and ".".
    kwargs.setdefault("exclude_invalid_files", False)
    return pads.dataset(path, filesystem=pa_fs, format=format, **kwargs)
