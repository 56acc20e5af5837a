"""Writing files and folders so an interruption never leaves something that looks complete.

Everything is built under a hidden temporary name beside its destination
(``.NAME.partial-XXXX`` for folders, ``.NAME.XXXX.tmp`` for files) and renamed
into place only when complete. A crash can leave such a hidden leftover, never
a half-written folder or file under the real name.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import SerError


class OutputExistsError(SerError, FileExistsError):
    """The destination already exists and replacing it was not asked for."""


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: read once at import (setting it is process-wide, so not done later from threads)
_UMASK = _read_umask()


def _normal_mode(path: Path, is_dir: bool) -> None:
    """mkdtemp/mkstemp create 0700/0600; give the result the usual umask-based mode."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if is_dir else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_dir(final: Path, overwrite: bool = False):
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success.

    On an exception (including ``KeyboardInterrupt``) the temporary folder is
    removed and ``final`` is untouched. With ``overwrite`` an existing ``final``
    is replaced only once the new content is complete.

    Raises
    ------
    OutputExistsError
        ``final`` exists (or appeared meanwhile) and ``overwrite`` is false.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        _normal_mode(tmp, is_dir=True)
        if final.exists() and not overwrite:
            raise OutputExistsError(f"{final} already exists")
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            old.rmdir()
            final.rename(old)
            try:
                tmp.rename(final)
            except BaseException:
                old.rename(final)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                tmp.rename(final)
            except OSError:
                if final.exists():  # created by someone else since the check
                    raise OutputExistsError(f"{final} already exists") from None
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    ``durable`` flushes the file to disk before the rename (skip it for caches,
    where a lost entry is simply recomputed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        _normal_mode(Path(tmp), is_dir=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


__all__ = ["OutputExistsError", "atomic_dir", "atomic_write_bytes"]
