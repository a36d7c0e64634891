"""Read and write one small file (a baseline, a report) at a ``fabric://`` URL or a local path.

Writes land whole or not at all: a local file is written to a temporary name in its folder
(`TEMP_PREFIX`, short and fixed-length, so any name the filesystem allows as the destination
leaves room for it) and renamed over the destination; an object store publishes an object only when its upload
completes. `validate_output` runs every check a write makes without writing, so the CLI can
refuse a bad destination before a scan that may take minutes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from typing import TYPE_CHECKING, Any

from skyfabric.errors import DriftError, ObjectNotFoundError

if TYPE_CHECKING:
    from skyfabric.fabric import Fabric

__all__ = [
    "TEMP_PREFIX",
    "read_bytes",
    "read_text",
    "validate_output",
    "write_bytes",
    "write_text",
]

FABRIC_PREFIX = "fabric://"
#: Start of the temporary name a local write goes to before its rename: ``.skyfabric-`` plus
#: 12 hex digits and ``.tmp`` (27 bytes whatever the destination's name, which may be as long
#: as the filesystem allows). The leading dot makes pyarrow and the fabric listing skip it.
TEMP_PREFIX = ".skyfabric-"
_NAME_MAX = 255  # POSIX filesystems' usual limit, where os.pathconf cannot tell


def _connect(fabric: Fabric | None) -> Fabric:
    """``fabric``, or `skyfabric.connect()` when None (imported then: pydantic, fsspec)."""
    if fabric is not None:
        return fabric
    from skyfabric.fabric import connect

    return connect()


def _parent_and_fs(url: str, fabric: Fabric | None) -> tuple[Any, str]:
    if url.startswith(FABRIC_PREFIX):
        return _connect(fabric).fs, url
    import fsspec

    return fsspec.filesystem("file"), os.path.abspath(os.path.expanduser(url))


def _not_a_directory(url: str, is_dir: bool, example: str) -> None:
    if is_dir or url.endswith(("/", os.sep)):
        raise DriftError(
            f"cannot write to {url!r}: it is a directory (or ends with '/'), and the output "
            f"is one file; fix: name the file, e.g. {url.rstrip('/' + os.sep)}/{example}"
        )


def _name_max(directory: str) -> int:
    """Longest file name, in bytes, that the filesystem of the existing ``directory`` allows
    (``os.pathconf`` ``PC_NAME_MAX``: 255 on ext4, xfs, btrfs, APFS; `_NAME_MAX` where
    pathconf is missing, as on Windows, or has no answer)."""
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return _NAME_MAX
    return limit if limit and limit > 0 else _NAME_MAX


def _local_parent_writable(url: str, path: str, example: str = "output.txt") -> None:
    """Raise unless the file ``path`` can be created: its nearest existing ancestor must be
    a directory this process may write into (`write_text` creates the missing ones), and
    neither the file's name nor a missing parent's may be longer than that filesystem
    allows (`_name_max`)."""
    parent = os.path.dirname(path) or "."
    nearest = parent
    # lexists: a dangling symlink stops the walk, as it would stop os.makedirs
    while not os.path.lexists(nearest) and os.path.dirname(nearest) != nearest:
        nearest = os.path.dirname(nearest)
    missing = "" if nearest == parent else f" (the file's directory {parent!r} does not exist yet)"
    if not os.path.isdir(nearest):
        raise NotADirectoryError(
            f"cannot write to {url!r}: {nearest!r} is a file, not a directory, so nothing can "
            f"be created under it{missing}; fix: write to a path under an existing directory"
        )
    limit = _name_max(nearest)
    for name in os.path.relpath(path, nearest).split(os.sep):
        size = len(os.fsencode(name))
        if size > limit:
            is_file = name == os.path.basename(path)
            raise DriftError(
                f"cannot write to {url!r}: the {'file' if is_file else 'directory'} name "
                f"{name[:40] + '...'!r} is {size} bytes long, and the filesystem of "
                f"{nearest!r} allows at most {limit} bytes per name; fix: shorten it to "
                f"{limit} bytes or less" + (f", e.g. {example}" if is_file else "")
            )
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write to {url!r}: this user may not create files in the directory "
            f"{nearest!r}{missing}; fix: choose a directory you can write to, or grant write "
            "access to it"
        )


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _not_another_scheme(url: str) -> None:
    """Refuse ``s3://...``, ``gs://...``, ``fabric:x`` and the like as an output: taken as a
    local path they would quietly become a file named ``s3:/...`` in the working directory."""
    if _SCHEME.match(url) or url.startswith("fabric:"):
        raise DriftError(
            f"cannot write to {url!r}: outputs go to fabric://<store>/<path> URLs or local "
            "paths, and this would become a local file named after the URL; fix: configure "
            "the bucket as a store in skyfabric.toml and write fabric://<store>/<path>, or give "
            "a local path"
        )


_NOT_REGULAR = (
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISSOCK, "socket"),
)


def special_kind(mode: int) -> str:
    """What a file of ``os.stat`` mode ``mode`` that is neither a regular file nor a
    directory is, for a message: ``"character device"`` (``/dev/null``), ``"named pipe
    (FIFO)"``, ... or ``"special file"``."""
    return next((k for test, k in _NOT_REGULAR if test(mode)), "special file")


def _not_stdout(url: str, example: str) -> None:
    """Refuse ``-``: outputs are files, and this one would be a file named ``-``."""
    if url == "-":
        raise DriftError(
            f"cannot write to '-': outputs are files, not stdout, and this would create a file "
            f"named '-'; fix: give a file, e.g. {example} (`skyfabric drift check --json` prints "
            "the result on stdout)"
        )


def _regular_target(url: str, path: str, example: str) -> str:
    """The file a write to the local ``path`` lands in: ``path`` when nothing is there yet,
    else the regular file it is or a symlink points to (`os.path.realpath`), so that the
    rename of a finished temporary replaces that file and keeps the link a link.

    Raises:
        DriftError: ``path`` is (or a symlink at it points to) a device, a FIFO or a socket:
            the rename would put a regular file in its place (``/dev/null``, ``/dev/stdout``);
            a symlink loop; a dangling symlink whose target directory does not exist.
    """
    if not os.path.lexists(path):
        return path
    target = os.path.realpath(path)
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except FileNotFoundError:  # a dangling symlink: the write creates the file it names
        if not os.path.isdir(os.path.dirname(target)):
            raise DriftError(
                f"cannot write to {url!r}: it is a symlink to {target!r}, whose directory does "
                "not exist; fix: create that directory, or write to another path"
            ) from None
        return target
    except OSError as exc:  # ELOOP: a symlink loop
        raise DriftError(
            f"cannot write to {url!r}: {exc.strerror}; fix: point the symlink at a file, or "
            f"write to another path, e.g. {example}"
        ) from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # a directory is refused by the caller
        return target
    kind = special_kind(mode)
    via = f" (through the symlink to {target!r})" if os.path.islink(path) else ""
    raise DriftError(
        f"cannot write to {url!r}: it is a {kind}{via}, not a regular file; outputs are written "
        f"to a temporary file renamed over the destination, which would replace the {kind} "
        f"with a regular file; fix: give the path of a regular file, e.g. {example}"
    )


def _checked_output(url: str, fabric: Fabric | None, example: str) -> str | None:
    """`validate_output`; returns the local file to write (`_regular_target`), or None for
    a ``fabric://`` URL."""
    _not_stdout(url, example)
    if not url.startswith(FABRIC_PREFIX):
        _not_another_scheme(url)
        path = os.path.abspath(os.path.expanduser(url))
        _not_a_directory(url, os.path.isdir(path), example)
        target = _regular_target(url, path, example)
        _local_parent_writable(url, target, example)
        return target
    fs = _connect(fabric).fs
    store, _, native = fs.route(url)  # UnknownStoreError / InvalidPathError before any I/O
    _not_a_directory(url, url.endswith("/") or fs.isdir(url), example)
    if store.local_disk:
        _local_parent_writable(url, _regular_target(url, native, example), example)
    return None


def validate_output(url: str, *, fabric: Fabric | None = None, example: str = "output.txt") -> None:
    """Check that `write_text` can write one file at ``url``, without writing anything.

    `write_text` (hence ``write_html``, ``write_json``, ``save_baseline``) runs it first; the
    CLI runs it before a scan that may take minutes, so a bad destination fails at once
    instead of after the work is done. Nothing is created: no file, no directory, no probe.

    Checks, in order: ``-`` is refused (it is not stdout here: it would be a file named
    ``-``); a URL of another scheme (``s3://``, ``gs://``, ``fabric:x``) is refused;
    a ``fabric://`` URL parses and names a configured store; ``url`` does
    not end with ``/`` and is not an existing directory (for an object store: a prefix with
    objects under it); for a local path or a ``local`` store, an existing file must be a
    regular file or a symlink to one (a device, FIFO or socket is refused, since the write
    renames a temporary over it; a symlink is written through, to its target), the
    nearest existing ancestor of the file is a directory this process may write into
    (missing parents are fine: `write_text` creates them), and neither the file's name nor
    a missing parent's is longer than that directory's filesystem allows (``NAME_MAX``,
    from `os.pathconf`: 255 bytes on most; the temporary a write goes through never needs
    more than the final name).

    Args:
        example: a file name suggested in the error when ``url`` is a directory.

    Raises:
        UnknownStoreError: the URL names a store that is not configured.
        InvalidPathError: the URL names no store or escapes its store.
        DriftError: ``url`` is ``-``, an existing directory or ends with ``/``, a URL of
            another scheme than ``fabric://``, an existing file that is not a regular file
            (character or block device, FIFO, socket, symlink loop), or a local name longer
            than the filesystem allows.
        NotADirectoryError: an existing ancestor of the file is a file.
        PermissionError: the directory the file (or its first missing parent) would be
            created in is not writable.
        StoreUnreachableError: the store holding ``url`` cannot be reached.
    """
    _checked_output(url, fabric, example)


def write_text(
    url: str, text: str, *, fabric: Fabric | None = None, example: str = "output.txt"
) -> None:
    """Write UTF-8 ``text`` to a ``fabric://`` URL or a local path (parents created).

    Local files are written to a temporary name and renamed, so a reader never sees half a
    file, and the temporary is removed if anything fails; object stores publish an object
    only when its upload completes. A local symlink is written through: its target file is
    replaced and the link stays. `validate_output` runs first, so a bad destination
    leaves nothing behind.

    Args:
        example: a file name suggested in the error when ``url`` is a directory.

    Raises:
        DriftError: ``url`` is ``-``, an existing directory, ends with ``/``, or is a device,
            FIFO or socket; nothing is written.
        UnknownStoreError, InvalidPathError: a ``fabric://`` URL that names no configured
            store or escapes it.
        OSError: the file cannot be written (permissions, an ancestor that is a file, disk
            full).
    """
    write_bytes(url, text.encode("utf-8"), fabric=fabric, example=example)


def write_bytes(
    url: str, data: bytes, *, fabric: Fabric | None = None, example: str = "output.bin"
) -> None:
    """Write ``data`` to a ``fabric://`` URL or a local path, whole or not at all (see
    `write_text`, which it implements; same errors)."""
    if url.startswith(FABRIC_PREFIX):
        fabric = _connect(fabric)  # once, for the check and the write
    path = _checked_output(url, fabric, example)
    if path is not None:
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        tmp, fd = _temporary_in(folder)
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        return
    fs, native = _parent_and_fs(url, fabric)
    parent = native.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(native, data)


def _temporary_in(folder: str) -> tuple[str, int]:
    """A new file in ``folder`` (`TEMP_PREFIX`, fixed length: a destination of the longest
    name the filesystem allows still has room for it), open for writing, created exclusively
    with the mode a plain ``open`` gives (0666 less the umask)."""
    while True:
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # 48 random bits: a clash is a concurrent writer's, retry
            continue


def read_bytes(url: str, *, fabric: Fabric | None = None) -> bytes:
    """Read one file from a ``fabric://`` URL or a local path.

    Raises:
        ObjectNotFoundError: nothing at ``url``.
        DriftError: a local ``url`` is a directory, FIFO or device (never read: a FIFO
            would block).
    """
    if not url.startswith(FABRIC_PREFIX):
        path = os.path.expanduser(url)
        if os.path.exists(path) and not os.path.isfile(path):  # a folder, FIFO, device
            what = "a directory" if os.path.isdir(path) else "not a regular file"
            raise DriftError(f"{url!r} is {what}; fix: give the path of a file")
        if not os.path.isfile(path):
            raise ObjectNotFoundError(f"no file at {url!r}; fix: check the path")
        with open(path, "rb") as fh:
            return fh.read()
    fs, path = _parent_and_fs(url, fabric)
    return bytes(fs.cat_file(path))


def read_text(url: str, *, fabric: Fabric | None = None) -> str:
    """Read a UTF-8 text object from a ``fabric://`` URL or a local path.

    Raises:
        ObjectNotFoundError: nothing at ``url``.
        UnicodeDecodeError: the file is not UTF-8 text.
    """
    return read_bytes(url, fabric=fabric).decode("utf-8")
