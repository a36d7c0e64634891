"""One schema for a folder of parquet files whose files disagree on column types.

pyarrow opens a folder, prefix or glob with the schema of its *first* file and casts every
other file to it while scanning. When the files were written by different job versions that
makes the result depend on the file order: an ``int64`` first file and a ``double`` later one
fails mid-scan ("Float value 55.9 was truncated"), a ``string`` first file turns a numeric
column into ``type_changed`` although most files hold numbers, and a column missing from the
first file reads as ``missing_column``.

`unify_file_schemas` reads every file's footer (in threads: on an object store each is a
request or two) and gives the dataset the schema pyarrow's permissive promotion makes of
them all (``pyarrow.unify_schemas(promote_options="permissive")``: ``int32 + int64 ->
int64``, ``int64 + double -> double``, ``string + large_string -> large_string``, units of
timestamps to the finer one, a column absent from some files nullable). Columns whose types
cannot be promoted into one (``int64`` vs ``string``, ``bool`` vs ``int64``, ``date32`` vs
``timestamp``) are reported as *conflicts*: a check reports them as ``type_changed`` and a
fit refuses them (`skyfabric.drift.sources.Source`), with the files and the fix, instead of
letting the file order decide.
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import pyarrow as pa
import pyarrow.dataset as pads

from skyfabric.errors import DriftError

__all__ = ["FOOTER_THREADS", "Unified", "unify_file_schemas"]

FOOTER_THREADS = 16
"""Footers read at once: on an object store each is one or two range requests, so a
thousand files take ~1000 x latency / 16 (a couple of seconds on S3); locally ~0.1 ms each."""


def _promote(types: list[pa.DataType]) -> pa.DataType | None:
    """The type pyarrow's permissive promotion gives ``types``; ``None`` when there is none.

    Dictionary-encoded strings mixed with plain strings promote to the plain type (the scan
    decodes the dictionaries); dictionaries that differ in orderedness (a pandas categorical
    with ``ordered=True`` in one file, without in another) to an unordered dictionary of the
    widest index (the order of the categories plays no part in binning); and timestamps in
    different time zones to the first one's zone (Arrow stores them as UTC whatever the
    zone): pyarrow's merge refuses all three, although its cast does not. Naive and zoned
    timestamps stay apart.
    """
    typed = [t for t in types if not pa.types.is_null(t)]  # an all-null file fits any type
    if len(typed) > 1 and any(pa.types.is_dictionary(t) for t in typed):
        values = [t.value_type if pa.types.is_dictionary(t) else t for t in typed]
        if all(pa.types.is_dictionary(t) for t in typed):
            if len({t.ordered for t in typed}) > 1:
                types = [pa.dictionary(t.index_type, t.value_type) for t in typed]
        elif all(pa.types.is_string(v) or pa.types.is_large_string(v) for v in values):
            types = values
    zones = {t.tz for t in typed if pa.types.is_timestamp(t)}
    zoned = len(zones) > 1 and None not in zones and all(pa.types.is_timestamp(t) for t in typed)
    if zoned:  # UTC instants whatever the zone: merge the units, keep the first file's zone
        types = [pa.timestamp(t.unit) for t in typed]
    try:
        merged = pa.unify_schemas(
            [pa.schema([pa.field("c", t)]) for t in types], promote_options="permissive"
        )
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    promoted = merged.field("c").type
    return pa.timestamp(promoted.unit, tz=typed[0].tz) if zoned else promoted


def _footer_schema(fragment: pads.ParquetFileFragment) -> pa.Schema:
    try:
        return fragment.physical_schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise DriftError(
            f"cannot read the parquet footer of {fragment.path}: {exc}; fix: remove or rewrite "
            "that file (an empty or truncated file, or one a job is still writing)"
        ) from exc


class Unified(NamedTuple):
    """What `unify_file_schemas` makes of a dataset's files.

    Attributes:
        data: the dataset, with one schema for all its files.
        conflicts: column -> the types no promotion holds, each with the first file
            holding it (``"int64 in month=1/part-0.parquet, string in month=3/..."``).
        promoted: column -> the types that were promoted into one, described the same way
            then ``-> the type``: the scan casts each file's values to it, which can still
            fail for a value (an int64 beyond 2**53 into double, a year-9999 ms timestamp
            into ns).
    """

    data: pads.Dataset
    conflicts: dict[str, str]
    promoted: dict[str, str]


def unify_file_schemas(data: pads.Dataset) -> Unified:
    """``data`` with one schema for all its files, and the columns it had to reconcile
    (`Unified`).

    A dataset whose files all have the first file's schema (the usual case) comes back as
    it is, after the footers are read. Otherwise the copy views the same files with the
    promoted schema (module docstring), partition fields kept; a conflicting column keeps
    the first file's type and is described as ``"int64 in month=1/part-0.parquet, string in
    month=3/part-0.parquet"`` (the first file holding each type, its path relative to the
    files' common folder). Datasets that are not parquet files (CSV, in-memory) come back
    unchanged.

    Raises:
        DriftError: a file's footer cannot be read (empty, truncated); names the file.
    """
    if not (
        isinstance(data, pads.FileSystemDataset)
        and isinstance(data.format, pads.ParquetFileFormat)
        and len(data.files) > 1
    ):
        return Unified(data, {}, {})
    fragments = list(data.get_fragments())
    with ThreadPoolExecutor(min(FOOTER_THREADS, len(fragments))) as pool:
        schemas = list(pool.map(_footer_schema, fragments))
    if all(s.equals(schemas[0]) for s in schemas[1:]):
        return Unified(data, {}, {})
    first_file_with: dict[str, dict[pa.DataType, str]] = {}
    for fragment, schema in zip(fragments, schemas, strict=True):
        for f in schema:
            first_file_with.setdefault(f.name, {}).setdefault(f.type, fragment.path)
    fields: list[pa.Field] = []
    conflicts: dict[str, str] = {}
    promotions: dict[str, str] = {}
    common = posixpath.dirname(posixpath.commonprefix([f.path for f in fragments]) + "x")
    for name, files_by_type in first_file_with.items():
        where = ", ".join(
            f"{t} in {posixpath.relpath(path, common) if common else path}"
            for t, path in files_by_type.items()
        )
        promoted = _promote(list(files_by_type))
        if promoted is None:
            conflicts[name] = where
            promoted = next(iter(files_by_type))  # the first file's: pyarrow's own choice
        elif len(files_by_type) > 1:
            promotions[name] = f"{where} -> {promoted}"
        fields.append(pa.field(name, promoted))
    partitions = [f for f in data.schema if f.name not in first_file_with]
    # the same fragments (footers already read, partition values kept) under the new schema;
    # Dataset.replace_schema refuses a changed type
    # the first file's metadata kept: pandas' names its index columns (`default_columns`)
    schema = pa.schema(fields + partitions, metadata=data.schema.metadata)
    unified = pads.FileSystemDataset(fragments, schema, data.format, data.filesystem)
    return Unified(unified, conflicts, promotions)
