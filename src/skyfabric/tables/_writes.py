"""Writing data files for a commit, and removing them when the commit does not land."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable

__all__ = ["append_files", "commit_or_clean", "remove_files"]


def commit_or_clean(tbl: IcebergTable, stage: Callable[[Any], None], written: list[Any]) -> None:
    """Stage changes with ``stage(transaction)`` and commit them.

    The data files in ``written`` (filled by ``stage`` or before) are deleted when staging
    fails or the commit surely did not land (``CommitFailedException``,
    ``ValidationException``); on any other commit error the outcome is unknown, so they stay
    (deleting them could corrupt a commit that landed; ``gc`` removes them if it did not).
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    tx = tbl.transaction()
    try:
        stage(tx)
    except BaseException:
        remove_files(tbl, written)
        raise
    try:
        tx.commit_transaction()
    except (CommitFailedException, ValidationException):
        remove_files(tbl, written)
        raise


def append_files(tx: Any, tbl: IcebergTable, frame: Any, written: list[Any]) -> None:
    """Write ``frame`` as data files (recorded in ``written`` as they appear) and add them in
    one append snapshot of ``tx`` (merge-append if the table enables manifest merging)."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files
    from pyiceberg.table import TableProperties
    from pyiceberg.utils.properties import property_as_bool

    merge = property_as_bool(tx.table_metadata.properties, TableProperties.MANIFEST_MERGE_ENABLED,
                             TableProperties.MANIFEST_MERGE_ENABLED_DEFAULT)
    update = tx.update_snapshot()
    with update.merge_append() if merge else update.fast_append() as append:
        if not hasattr(frame, "num_rows") or frame.num_rows:
            for data_file in _dataframe_to_data_files(tx.table_metadata, frame, tbl.io,
                                                      append.commit_uuid):
                written.append(data_file)
                append.append_data_file(data_file)


def remove_files(tbl: IcebergTable, data_files: list[Any]) -> None:
    """Delete data files a failed commit wrote (never referenced by any snapshot)."""
    for data_file in data_files:
        with contextlib.suppress(OSError):
            tbl.io.delete(data_file.file_path)
