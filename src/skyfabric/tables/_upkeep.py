"""Table upkeep: compaction, snapshot expiry and orphan-file removal (a mixin of `Table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table as IcebergTable

    from skyfabric.tables._compact import CompactResult
    from skyfabric.tables._model import ExpireResult, GcResult
    from skyfabric.tables._service import TableService

__all__ = ["Upkeep"]


class Upkeep:
    """Maintenance methods of `skyfabric.tables.Table`."""

    if TYPE_CHECKING:  # provided by `Table`, which mixes this class in
        _service: TableService

        def _fresh(self) -> IcebergTable: ...

        def _commit(self, verb: str, op: Any, replayable: bool = True) -> Any: ...

    def compact(self, target_file_size: int | str | None = None, *,
                where: str | BooleanExpression | None = None, dry_run: bool = False,
                min_input_files: int = 2) -> CompactResult:
        """Rewrite small data files per partition into files of ``target_file_size``, and
        files written under earlier partition specs into the current spec, in one
        ``replace`` snapshot (no row changes; time travel to earlier snapshots keeps working;
        `expire_snapshots` then deletes the replaced files). See `skyfabric.tables._compact`.

        Args:
            target_file_size: bytes on disk per output file, or text such as ``"128MiB"``
                (default: the table's ``write.target-file-size-bytes``, else 512 MiB).
            where: only files that may hold rows matching this filter (e.g.
                ``"day >= '2026-11-01'"``); whole files are rewritten.
            dry_run: return what would be rewritten; write nothing.
            min_input_files: small files a partition needs before it is rewritten.

        Returns:
            `CompactResult`: the partitions and files rewritten, files written, snapshot id.

        Raises:
            ValueError: a size that cannot be read, or a filter naming an unknown column.
            CommitConflictError: other writers kept winning (nothing was committed).
        """
        from skyfabric.tables._compact import compact
        from skyfabric.tables._model import parse_size

        size = None if target_file_size is None else parse_size(target_file_size)
        return self._commit("compact", lambda t: compact(t, size, where, dry_run, min_input_files))

    def expire_snapshots(self, older_than: Any = "7d", *, retain_last: int = 1,
                         dry_run: bool = False) -> ExpireResult:
        """Expire snapshots older than ``older_than`` (keeping the ``retain_last`` newest
        and every branch/tag head) and delete the files only they referenced.

        See `skyfabric.tables._maintenance.expire` for what counts as referenced.
        """
        from skyfabric.tables._maintenance import expire

        return self._commit("expire snapshots of",
                            lambda t: expire(self._service, t, older_than, retain_last, dry_run))

    def gc(self, older_than: Any = "1d", *, dry_run: bool = False) -> GcResult:
        """Delete orphan files under the table location (see `skyfabric.tables._maintenance.gc`)."""
        from skyfabric.tables._maintenance import gc

        return gc(self._service, self._fresh(), older_than, dry_run)
