"""File mechanics every step shares: atomic writes, checksums, safe loads, input errors."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch


class BadInputError(Exception):
    """A raw or user-supplied file is missing or malformed; the message names it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class OutOfSpaceError(OSError):
    """The disk filled up while an output was written; the output was left as it was."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            errno.ENOSPC,
            f"{path}: no space left on the device; the file was not written "
            "(an earlier version, if any, is untouched). Free some space and run again",
        )


_NEARLY_FULL = 1 << 20


def _out_of_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write failed for lack of space (torch reports it as a bare RuntimeError)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    if not isinstance(error, OSError | RuntimeError):
        return False  # an input or programming error, whatever the free space
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL


@contextlib.contextmanager
def _space_checked(path: Path) -> Iterator[None]:
    """Re-raise a write failure caused by a full disk as OutOfSpaceError naming `path`."""
    try:
        yield
    except Exception as error:
        if _out_of_space(error, path.parent):
            raise OutOfSpaceError(path) from error
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o644)  # mkstemp creates 0600; finished outputs are ordinary files
    try:
        with _space_checked(path):
            yield tmp_path
            with open(tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(root: str | Path) -> Iterator[Path]:
    """Yield an empty sibling folder to fill; on success it replaces `root`, else it is removed.

    A folder already at `root` is replaced only once the new one is complete.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise BadInputError(root, "exists and is not a folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    staging.chmod(0o755)
    try:
        with _space_checked(root):
            yield staging
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old.", dir=root.parent))
            root.rename(old / root.name)
            staging.rename(root)
            shutil.rmtree(old)
        else:
            staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write indented, key-sorted JSON."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_table(path: str | Path, frame: Any) -> None:
    """Atomically write a pandas DataFrame as CSV or parquet, chosen by suffix."""
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def significant(frame: Any, digits: int = 6) -> Any:
    """`frame` with its float columns at `digits` significant digits (0.79, not float32's noise)."""
    floats = frame.select_dtypes("float").columns
    return frame.assign(**{c: frame[c].map(lambda v: float(f"{v:.{digits}g}")) for c in floats})


def write_markdown_table(path: str | Path, frame: Any) -> None:
    """Atomically write a pandas DataFrame as a GitHub-flavoured markdown table."""
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in frame.values]
    lines = [list(map(str, frame.columns)), ["---"] * len(frame.columns), *cells]
    write_text(path, "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n")


def save_torch(path: str | Path, obj: Any) -> None:
    """Atomically `torch.save` `obj` to `path`; the bytes do not depend on the temp file's name
    (given a path, torch names the archive's folder after it)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def copy_file(src: str | Path, dst: str | Path) -> None:
    """Atomically copy `src` to `dst`."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def link_file(src: str | Path, dst: str | Path) -> None:
    """`dst` as a second name of `src` (a hard link: one copy on disk), replaced atomically;
    a copy where the filesystem has no hard links."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        copy_file(src, dst)
        return
    try:
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safe_torch_load(path: str | Path) -> Any:
    """Load a torch file without executing code (`weights_only=True`); clear error if unusable."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "checkpoint file does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise BadInputError(path, f"not a loadable weights-only checkpoint ({exc})") from exc
