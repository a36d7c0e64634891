"""File objects of the obstore data path: `ObstoreReadFile` (seekable ranged reads) and
`ObstoreWriteFile` (a multipart upload that appears only when closed, aborted on error)."""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

from skyfabric.storage._obstore_support import CONCURRENCY, PART_SIZE, map_errors

if TYPE_CHECKING:
    from skyfabric.storage._obstore_fs import ObstoreFileSystem

__all__ = ["ObstoreReadFile", "ObstoreWriteFile"]


class ObstoreReadFile(io.RawIOBase):
    """A seekable, read-only file over one object: each ``read`` is one ranged request
    (large ones split into concurrent parts). Buffering belongs to callers (pyarrow and
    pandas read in large blocks); small reads go through a `PART_SIZE` read-ahead unless
    opened with ``cache_type="none"`` (exact ranges, as the drift scan asks)."""

    def __init__(
        self, fs: ObstoreFileSystem, key: str, size: int, read_ahead: bool = True
    ) -> None:
        super().__init__()
        self.read_ahead = read_ahead
        self.fs = fs
        self.key = key
        self.path = fs._native(key)
        self.size = size
        self.loc = 0
        self._ahead = b""
        self._ahead_at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.loc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.loc, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"seek before the start of {self.path}")
        self.loc = base + offset
        return self.loc

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path}")
        end = self.size if size is None or size < 0 else min(self.size, self.loc + size)
        if end <= self.loc:
            return b""
        ahead_end = self._ahead_at + len(self._ahead)
        if self._ahead_at <= self.loc and end <= ahead_end:
            data = self._ahead[self.loc - self._ahead_at : end - self._ahead_at]
        elif self.read_ahead and end - self.loc < PART_SIZE // 8:
            # a small read: fetch a whole part once, serve the following small reads from it
            hi = min(self.size, self.loc + PART_SIZE)
            with map_errors(self.path):
                self._ahead = self.fs._read(self.key, self.loc, hi)
            self._ahead_at = self.loc
            data = self._ahead[: end - self.loc]
        else:  # to the end: one GET from here, as obstore reads a whole object
            with map_errors(self.path):
                data = self.fs._read(self.key, self.loc, None if end == self.size else end)
        self.loc += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._ahead = b""
        super().close()

    def __reduce__(self) -> Any:
        raise TypeError("an open fabric:// file does not pickle; pickle the URL instead")


class ObstoreWriteFile(io.RawIOBase):
    """A write-only file becoming one object on ``close``: data is uploaded in parts of
    ``part_size`` bytes while it is written (a multipart upload, up to `CONCURRENCY` parts
    in flight), and the object appears under its name only when ``close`` completes the
    upload. `discard` (and leaving a ``with`` block by an exception) aborts: nothing
    appears under the name."""

    def __init__(self, fs: ObstoreFileSystem, key: str, part_size: int) -> None:
        super().__init__()
        import obstore as obs

        self.fs = fs
        self.key = key
        self.path = fs._native(key)
        with map_errors(self.path):
            self._writer = obs.open_writer(
                fs.client, key, buffer_size=max(part_size, 5 * 2**20),
                max_concurrency=CONCURRENCY, **fs._put_kwargs(),
            )  # fmt: skip
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.path}")
        with map_errors(self.path):
            n = int(self._writer.write(data))
        self.size += n
        return n

    def flush(self) -> None:
        pass  # parts go up as they fill; only close completes the object

    def close(self) -> None:
        if self.closed:
            return
        try:
            with map_errors(self.path):
                self._writer.close()
        finally:
            super().close()

    def discard(self) -> None:
        """Abandon the upload: nothing appears under the object's name."""
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._writer.__exit__(RuntimeError, RuntimeError("discarded"), None)
        super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        # never commit a half-written object because the writer was dropped
        if not self.closed:
            self.discard()

    def __reduce__(self) -> Any:
        raise TypeError("an open fabric:// file does not pickle")
