"""Atomic file writes: a reader or a crash sees the old file or the new one, never half.

The new content goes to a temporary file beside the target, is flushed to disk, then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). A process killed
at any moment (SIGKILL included, where no clean-up code runs) therefore leaves the target
as it was, or complete; what it can leave is its temporary file. Temporary names carry the
writer's process id, so the next write to the same target removes the leftovers of
writers that are gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

#: A leftover is removed only when its writer is gone and it has not changed for this
#: long, so a writer in another PID namespace sharing the folder is not robbed of its file.
STALE_AFTER_SECONDS = 60.0


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file lives in the same folder so the final ``os.replace`` is atomic on
    POSIX. On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``target`` is left as it was. Its name is ``.<target name>.<pid>.<random><suffix>``
    (the suffix defaults to the target's, for writers that choose the format by it).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix or target.suffix or ".tmp"
    _remove_stale(target, suffix)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent
    )
    # mkstemp creates 0600; give the final file the permissions a plain open() would.
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def check_writable(
    target: str | os.PathLike[str], *, folder: bool = False, what: str | None = None
) -> Path:
    """``target`` as a Path, once it is known that it can be written; nothing is created.

    A file (``folder=False``) must not be a folder, and the folder that will hold it must
    be creatable and writable (atomic writes put a temporary file beside the target). A
    folder must not be a file and must be creatable and writable. Writability is tried,
    not guessed from permission bits, so read-only mounts and /proc are caught for root
    too. ``what`` names the output in the message (default: the path).

    Raises :class:`~cnnedge.errors.OutputError` saying why and what to do.
    """
    from cnnedge.errors import OutputError

    path = Path(target).expanduser()
    name = what or str(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"cannot write {name}: {path} is a file, not a folder; name a folder")
    if not folder and path.is_dir():
        raise OutputError(
            f"cannot write {name}: {path} is a folder; give a file name such as "
            f"{path / ('output' + (path.suffix or '.dat'))}"
        )
    nearest = path if folder else path.parent
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise OutputError(
            f"cannot write {name}: {nearest} is a file, not a folder, so nothing can be "
            "created inside it; choose another path"
        )
    try:
        # O_TMPFILE where the filesystem has it: an unnamed file, gone when closed.
        with tempfile.TemporaryFile(dir=nearest):
            pass
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        reason = reason[:1].lower() + reason[1:] if reason else str(exc)
        raise OutputError(
            f"cannot write {name}: {nearest} is not writable ({reason}); choose a "
            "folder you can write to"
        ) from None
    return path


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def leftovers(target: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of writes to ``target`` that have not finished (or never will)."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}.") + r"\d+\.[a-z0-9_]{8}")
    try:
        return sorted(p for p in target.parent.iterdir() if pattern.match(p.name) and p != target)
    except OSError:
        return []


def _remove_stale(target: Path, suffix: str) -> None:
    """Remove temporary files left beside ``target`` by killed writers (best effort)."""
    pattern = re.compile(
        re.escape(f".{target.name}.") + r"(\d+)\.[a-z0-9_]{8}" + re.escape(suffix) + "$"
    )
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    now = time.time()
    for name in names:
        found = pattern.match(name)
        if found is None or _alive(int(found.group(1))):
            continue
        path = target.parent / name
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime >= STALE_AFTER_SECONDS:
                path.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another write of ours, perhaps in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else (EPERM)
    return True


def _fsync_folder(folder: Path) -> None:
    # The rename is durable across a power cut only once the folder entry is on disk.
    # Not every filesystem (or OS) lets a folder be opened and synced: best effort.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
