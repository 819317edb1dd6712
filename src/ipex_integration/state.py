"""The one state layer: every file the project keeps or writes goes through here.

- Writes are atomic: a temp file in the target's folder, fsync, rename over the target. A reader (or a crash,
  or a full disk) sees the old file or the new one, never half of either; the temp file is removed on every
  failure, KeyboardInterrupt and `errors.Interrupted` included.
- Every read-modify-write of a shared file holds an inter-process lock (`filelock`) from the read to the
  rename: `updating_toml` / `updating_json`. Slow work (probing an interpreter, fetching a node) happens
  BEFORE taking the lock; the change itself re-reads the file under the lock and merges.
- TOML the user may edit is changed with `tomlkit`, so their comments and order survive.
- Readers (`read_json`, `read_toml`) turn every way a file can be bad (not UTF-8, a syntax error, 100,000
  nested arrays, a 5,000-digit number, the wrong top-level type) into one `ConfigError` naming the file and
  the fix.

Low-level `atomic_write_*` raise OSError (callers such as the unit installer give their own hints);
`write_text` / `write_bytes` and the `updating_*` helpers raise `FailedError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ConfigError, FailedError

LOCK_TIMEOUT_S = 60.0  # longer than any change made under a lock (they are all a read and a rename)
_MISSING: Any = object()
_ABSENT: Any = object()  # read_text's answer for a missing file, inside this module
_MAX_SHOWN = 200  # parser messages can quote the file; keep the one line short


# -- locks --------------------------------------------------------------------------------------------------


def lock_path(target: str | os.PathLike[str]) -> Path:
    """`.NAME.lock` beside the target (hidden, so listings of custom_nodes or config stay clean)."""
    t = Path(target)
    return t.with_name(f".{t.name}.lock")


def _fallback_lock_path(target: Path) -> Path:
    """For a target whose folder we cannot write: a per-user lock folder in the temp dir, keyed by the path."""
    key = hashlib.sha256(os.fsencode(os.path.abspath(target))).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / f"ipex-integration-locks-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.lock"


@contextlib.contextmanager
def locked(target: str | os.PathLike[str], *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the inter-process lock of `target` (blocking up to `timeout` seconds)."""
    from filelock import FileLock, Timeout

    target = Path(target)
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(target), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise _lock_timeout(target) from None
    except OSError:
        # Read-only or foreign folder: lock elsewhere. The write itself will then fail with a clean error,
        # and a reader-only user never needed to write here.
        lock = FileLock(_fallback_lock_path(target), timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            raise _lock_timeout(target) from None
    try:
        yield
    finally:
        lock.release()


def _lock_timeout(target: Path) -> FailedError:
    return FailedError(
        f"{target} is locked by another ipex command (waited {LOCK_TIMEOUT_S:g} s)",
        hint=f"wait for it to finish; if none is running, delete {lock_path(target)}",
    )


# -- writes -------------------------------------------------------------------------------------------------


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, mode: int | None = None, *, replace: bool = True
) -> Path:
    """Write `data` to `path` atomically. With replace=False an existing `path` is never touched:
    FileExistsError instead (the rename is a hard link, which fails rather than replaces)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a folder must be; FileExistsError is kept for the link below
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target.parent)) from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        elif replace and target.exists():
            os.chmod(tmp_name, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp_name, _new_file_mode())  # mkstemp makes 0600; give what a plain open() would
        if replace:
            os.replace(tmp_name, target)
        else:
            os.link(tmp_name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)  # after a rename it is gone; after a link or a failure it must go
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int | None = None, *, replace: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode, replace=replace)


def write_failure(path: str | os.PathLike[str], exc: OSError, what: str = "file") -> FailedError:
    """One line for a failed write: the file, the cause, what to do."""
    cause = exc.strerror or str(exc)
    hints = {
        errno.ENOSPC: "free some space on that disk and run the command again (the old file is unchanged)",
        errno.EDQUOT: "free some space within your quota and run the command again (the old file is unchanged)",
        errno.EROFS: "the file system is read-only; point IPEX_INTEGRATION_HOME (or --output) at a writable folder",
        errno.EACCES: "check the folder's owner and permissions, or use a folder you can write",
        errno.EPERM: "check the folder's owner and permissions, or use a folder you can write",
        errno.ENOTDIR: "a part of that path is a file, not a folder; choose another path",
        errno.EISDIR: "that path is a folder; choose a file name",
        errno.ENAMETOOLONG: "choose a shorter path",
    }
    return FailedError(f"cannot write the {what} {path}: {cause}", hint=hints.get(exc.errno))


def write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str = "file", mode: int | None = None) -> Path:
    try:
        return atomic_write_bytes(path, data, mode=mode)
    except OSError as exc:
        raise write_failure(path, exc, what) from None


def write_text(path: str | os.PathLike[str], text: str, *, what: str = "file", mode: int | None = None) -> Path:
    return write_bytes(path, text.encode("utf-8"), what=what, mode=mode)


def ensure_writable_dir(path: str | os.PathLike[str], *, what: str = "folder") -> Path:
    """FailedError naming the folder when files could not be written into it (or it could not be made), checked
    without creating anything: the nearest existing folder on the way must be a folder, writable, and on a
    file system mounted read-write. For commands that would otherwise find out after minutes of work."""
    folder = Path(path).expanduser().absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise write_failure(folder, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing)), what)
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        raise write_failure(folder, OSError(errno.EROFS, os.strerror(errno.EROFS), str(existing)), what)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise write_failure(folder, OSError(errno.EACCES, os.strerror(errno.EACCES), str(existing)), what)
    return folder


def write_new_text(path: str | os.PathLike[str], text: str, *, what: str = "file") -> Path:
    """Write `text` to `path`, or to `STEM-2.SUFFIX`, `STEM-3.SUFFIX`, ... when that name is taken: an earlier
    file is never replaced, even by two runs racing for the same name. Returns the path written."""
    path = Path(path)
    for number in range(1, 10_000):
        candidate = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        try:
            return atomic_write_text(candidate, text, replace=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_failure(candidate, exc, what) from None
    raise FailedError(f"no free file name beside {path}", hint="move the old results elsewhere")


# -- reads --------------------------------------------------------------------------------------------------


def _fix(path: Path, fix: str | None) -> str:
    return fix or f"fix or delete {path}"


def _short(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_SHOWN else line[: _MAX_SHOWN - 3] + "..."


def read_text(
    path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None, default: Any = _MISSING,
    kind: str | None = None,
) -> Any:
    """The file's text; `default` when it does not exist (a ConfigError when no default is given)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if default is not _MISSING:
            return default
        raise ConfigError(f"the {what} {path} does not exist", hint=fix) from None
    except IsADirectoryError:
        raise ConfigError(f"the {what} {path} is a directory, not a file", hint=_fix(path, fix)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}", hint=fix) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        valid = f"valid {kind}: it is " if kind else ""
        raise ConfigError(
            f"the {what} {path} is not {valid}UTF-8 text (byte {exc.start})", hint=_fix(path, fix)
        ) from None


def _text_or_absent(path: Path, what: str, fix: str | None, default: Any, kind: str) -> Any:
    """The file's text; _ABSENT when it does not exist and the caller has a default, else read_text's error."""
    return read_text(path, what=what, fix=fix, default=_MISSING if default is _MISSING else _ABSENT, kind=kind)


def _parse(parse: Callable[[str], Any], text: str, path: Path, what: str, kind: str, fix: str | None) -> Any:
    try:
        return parse(text)
    except RecursionError:
        raise ConfigError(f"the {what} {path} is nested too deeply to read", hint=_fix(path, fix)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the {what} {path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            hint=_fix(path, fix),
        ) from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # the int-digits limit, tomlkit's errors
        raise ConfigError(f"the {what} {path} is not valid {kind}: {_short(exc)}", hint=_fix(path, fix)) from None


def _check_type(value: Any, expect: type | None, path: Path, what: str, fix: str | None) -> Any:
    if expect is not None and not isinstance(value, expect):
        raise ConfigError(
            f"the {what} {path} holds a {type(value).__name__}, not {'an object' if expect is dict else expect.__name__}",
            hint=_fix(path, fix),
        )
    return value


def read_json(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    fix: str | None = None,
    default: Any = _MISSING,
    expect: type | None = dict,
) -> Any:
    """Parse a JSON file; `default` when it does not exist. Every bad file is one ConfigError."""
    return _read_parsed(Path(path), json.loads, "JSON", expect, what, fix, default)


def read_toml(
    path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None, default: Any = _MISSING
) -> dict:
    """Parse a TOML file into plain dicts (tomllib); `default` when it does not exist."""
    return _read_parsed(Path(path), tomllib.loads, "TOML", dict, what, fix, default)


def _read_parsed(path: Path, parse: Callable[[str], Any], kind: str, expect: type | None, what: str,
                 fix: str | None, default: Any) -> Any:
    text = _text_or_absent(path, what, fix, default, kind)
    if text is _ABSENT:
        return default
    return _check_type(_parse(parse, text, path, what, kind, fix), expect, path, what, fix)


def read_toml_document(path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None):
    """The file as a tomlkit document (comments and order kept); an empty document when it does not exist.
    Checked with tomllib first, which is strict where tomlkit is lenient."""
    import tomlkit

    path = Path(path)
    text = read_text(path, what=what, fix=fix, default="", kind="TOML")
    _parse(tomllib.loads, text, path, what, "TOML", fix)
    return _parse(tomlkit.parse, text, path, what, "TOML", fix)


# -- read-modify-write --------------------------------------------------------------------------------------


@contextlib.contextmanager
def updating_toml(
    path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None, header: str = ""
) -> Iterator[Any]:
    """Lock, read the TOML as a tomlkit document, let the body change it, write it back atomically.
    Nothing is written when the body raises. `header` starts a file that did not exist yet."""
    path = Path(path)
    with locked(path):
        existed = path.exists()
        document = read_toml_document(path, what=what, fix=fix)
        yield document
        text = document.as_string()
        write_text(path, text if existed or not header else header + text, what=what)


@contextlib.contextmanager
def updating_json(
    path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None, default: Callable[[], Any] = dict,
    dumps: Callable[[Any], str] = lambda data: json.dumps(data, indent=2, ensure_ascii=False) + "\n",
) -> Iterator[Any]:
    """Lock, read the JSON object (`default()` when missing), let the body change it in place, write it back."""
    path = Path(path)
    with locked(path):
        data = read_json(path, what=what, fix=fix, default=_ABSENT)
        data = default() if data is _ABSENT else data
        yield data
        write_text(path, dumps(data), what=what)


# -- temp files and folders ---------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str = "ipex-", *, dir: str | os.PathLike[str] | None = None, suffix: str = "") -> Iterator[Path]:
    """A temp folder removed on every way out (exceptions, Ctrl-C, `errors.Interrupted`)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def temp_file(prefix: str = "ipex-", *, dir: str | os.PathLike[str] | None = None, suffix: str = "") -> Iterator[Path]:
    """A temp file path (created empty) removed on every way out."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


# -- append-only logs ---------------------------------------------------------------------------------------


class AppendLog:
    """A file that only grows by whole lines: each `append` is one write() then fsync, so the cost of a line
    does not depend on how long the file already is, and a crash loses at most the line being written (a torn
    last line, which `read_jsonl` skips). A failed write is cut back off, so no torn line stays in the middle.
    The file is created (emptied) by the first append."""

    def __init__(self, path: str | os.PathLike[str], *, what: str = "log") -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def append(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC,
                                   _new_file_mode())
            size = os.fstat(self._fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
        except OSError as exc:
            raise write_failure(self.path, exc, self.what) from None

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete the file (its content lives elsewhere now)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __del__(self) -> None:
        self.close()


def read_jsonl(
    path: str | os.PathLike[str], *, what: str = "file", fix: str | None = None, default: Any = _MISSING
) -> list[Any]:
    """The JSON values of a file of one value per line (an `AppendLog`); `default` when it does not exist.
    A torn last line (a crash mid-append) is left out; a bad line before it is a ConfigError naming it."""
    path = Path(path)
    text = _text_or_absent(path, what, fix, default, "JSON lines")
    if text is _ABSENT:
        return default
    lines = text.split("\n")
    values: list[Any] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            if number == len(lines):  # no newline after it: the append that was cut short
                break
            raise ConfigError(f"the {what} {path} has a bad line {number}: {_short(exc)}", hint=_fix(path, fix)) from None
    return values
