"""NAR (Nix ARchive) serialisation of a file tree and its SRI sha256, byte-for-byte as Nix computes it.

`nar_hash(dir)` equals `nix hash path dir` and the `hash` of `fetchFromGitHub`/`fetchgit` for the same tree,
except that a `.git` entry at the top level is left out, as Nix's git fetchers delete it.

Format (libutil/archive.cc): every token is a string written as its length (u64 little-endian), its bytes and
zero padding to a multiple of 8.
    "nix-archive-1" node
    node      = "(" "type" ("regular" ["executable" ""] "contents" <data>
                          | "symlink" "target" <target>
                          | "directory" {"entry" "(" "name" <name> "node" node ")"}) ")"
Directory entries are sorted by the bytes of their names; a file is executable when its owner-execute bit is set.

Speed: headers and small files are gathered in one buffer and hashed in large updates (one hashlib call per
~1 MiB instead of several per file); large files are read straight into a reused buffer; names stay bytes from
os.scandir (no decoding, d_type spares a stat for directories and symlinks); the walk is iterative.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from ..errors import IpexError
from .hashes import to_sri


class NarError(IpexError):
    """A tree cannot be serialised (unsupported file type, unreadable file, file changed while reading)."""


def _token(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data + b"\0" * (-len(data) % 8)


_PAD = (b"", b"\0" * 7, b"\0" * 6, b"\0" * 5, b"\0" * 4, b"\0" * 3, b"\0" * 2, b"\0")
_MAGIC = _token(b"nix-archive-1")
_OPEN = _token(b"(")
_CLOSE = _token(b")")
_REGULAR = _OPEN + _token(b"type") + _token(b"regular") + _token(b"contents")
_EXECUTABLE = _OPEN + _token(b"type") + _token(b"regular") + _token(b"executable") + _token(b"") + _token(b"contents")
_SYMLINK = _OPEN + _token(b"type") + _token(b"symlink") + _token(b"target")
_DIRECTORY = _OPEN + _token(b"type") + _token(b"directory")
_ENTRY = _token(b"entry") + _OPEN + _token(b"name")
_NODE = _token(b"node")
_ENTRY_END = _CLOSE  # closes the entry's "(" after its node
_U64 = struct.Struct("<Q").pack

_FLUSH_AT = 1 << 20  # hash the gathered bytes once they pass 1 MiB
_SMALL_FILE = 1 << 20  # files up to this size are read whole into the buffer
_CHUNK = 1 << 20  # read size for larger files
_GIT = b".git"


def _pad(n: int) -> bytes:
    return _PAD[n % 8]


def _fail(path: bytes, what: str) -> NarError:
    return NarError(f"cannot hash {os.fsdecode(path)}: {what}")


class _Writer:
    """Feeds NAR bytes to `update` in large pieces; `out` is the gathering buffer."""

    __slots__ = ("update", "out", "chunk", "exclude", "exclude_parents")

    def __init__(self, update: Callable[[bytes], object]) -> None:
        self.update = update
        self.out = bytearray()
        self.chunk: bytearray | None = None

    def flush(self) -> None:
        if self.out:
            self.update(self.out)
            self.out = bytearray()

    def regular(self, path: bytes) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        try:
            st = os.fstat(fd)
            size = st.st_size
            out = self.out
            out += _EXECUTABLE if st.st_mode & stat.S_IXUSR else _REGULAR
            out += _U64(size)
            if size <= _SMALL_FILE:
                data = os.read(fd, size)
                while len(data) < size:  # short reads are legal; a shrinking file is not
                    more = os.read(fd, size - len(data))
                    if not more:
                        raise _fail(path, "file shrank while being read")
                    data += more
                out += data
                if len(out) >= _FLUSH_AT:
                    self.update(out)
                    out = self.out = bytearray()
            else:
                self.update(out)
                out = self.out = bytearray()
                chunk = self.chunk
                if chunk is None:
                    chunk = self.chunk = bytearray(_CHUNK)
                view = memoryview(chunk)
                left = size
                update = self.update
                while left:
                    n = os.readv(fd, [view[: min(left, _CHUNK)]])
                    if n == 0:
                        raise _fail(path, "file shrank while being read")
                    update(view[:n])
                    left -= n
            out += _pad(size)
            out += _CLOSE
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        finally:
            os.close(fd)

    def symlink(self, path: bytes) -> None:
        try:
            target = os.readlink(path)
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        out = self.out
        out += _SYMLINK
        out += _U64(len(target))
        out += target
        out += _pad(len(target))
        out += _CLOSE

    def tree(self, root: bytes, *, empty_dirs: frozenset[bytes], exclude: frozenset[bytes]) -> None:
        """Serialise the directory `root` without recursion (deep trees must not hit Python's stack limit)."""
        self.out += _DIRECTORY
        # Directories holding an excluded entry: only their listings are filtered (one set lookup per directory).
        self.exclude = exclude
        self.exclude_parents = frozenset(e.rpartition(b"/")[0] for e in exclude)
        # Each stack frame: (iterator over sorted entries, path of that directory, relative path)
        stack = [(iter(self._entries(root, b"")), root, b"")]
        out_entry = _ENTRY
        while stack:
            entries, _dir, rel = stack[-1]
            for entry in entries:
                name = entry.name
                out = self.out
                out += out_entry
                out += _U64(len(name))
                out += name
                out += _pad(len(name))
                out += _NODE
                if entry.is_dir(follow_symlinks=False):
                    child_rel = rel + b"/" + name if rel else name
                    self.out += _DIRECTORY
                    if child_rel in empty_dirs:
                        self.out += _CLOSE + _ENTRY_END
                        continue
                    stack.append((iter(self._entries(entry.path, child_rel)), entry.path, child_rel))
                    break
                if entry.is_symlink():
                    self.symlink(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    self.regular(entry.path)
                else:
                    raise _fail(entry.path, "unsupported file type (Nix archives hold only files, symlinks and directories)")
                self.out += _ENTRY_END
            else:
                stack.pop()
                self.out += _CLOSE  # the directory node
                if stack:
                    self.out += _ENTRY_END  # the entry that held it
                if len(self.out) >= _FLUSH_AT:
                    self.flush()

    def _entries(self, path: bytes, rel: bytes) -> list[os.DirEntry]:
        try:
            with os.scandir(path) as it:
                if rel in self.exclude_parents:
                    prefix = rel + b"/" if rel else b""
                    entries = [e for e in it if prefix + e.name not in self.exclude]
                else:
                    entries = list(it)
        except OSError as exc:
            raise _fail(path, exc.strerror or str(exc)) from None
        entries.sort(key=_name)
        return entries


def _name(entry: os.DirEntry) -> bytes:
    return entry.name


def _to_bytes(path: str | os.PathLike[str] | bytes) -> bytes:
    return path if isinstance(path, bytes) else os.fsencode(os.fspath(path))


def _dump(
    path: str | os.PathLike[str] | bytes,
    update: Callable[[bytes], object],
    *,
    exclude_git: bool,
    empty_dirs: Iterable[str],
    exclude: Iterable[str] = (),
) -> None:
    root = _to_bytes(path)
    writer = _Writer(update)
    writer.out += _MAGIC
    try:
        st = os.lstat(root)
    except OSError as exc:
        raise _fail(root, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        empty = frozenset(os.fsencode(str(Path(p))) for p in empty_dirs)
        skip = frozenset(os.fsencode(str(Path(p))) for p in exclude) | ({_GIT} if exclude_git else frozenset())
        writer.tree(root, empty_dirs=empty, exclude=skip)
    elif stat.S_ISLNK(st.st_mode):
        writer.symlink(root)
    elif stat.S_ISREG(st.st_mode):
        writer.regular(root)
    else:
        raise _fail(root, "unsupported file type")
    writer.flush()


def nar_hash(
    path: str | os.PathLike[str] | bytes,
    *,
    exclude_git: bool = True,
    empty_dirs: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> str:
    """SRI sha256 of the NAR of `path` ("sha256-<base64>"), as `nix hash path` prints it.

    exclude_git: leave out a `.git` entry directly under `path` (git fetchers delete it; deeper ones stay).
    empty_dirs: relative directory paths serialised as empty directories: where a git submodule is checked out
        in our tree but absent from the tarball Nix hashes (its own entry pins it).
    exclude: further relative paths left out (e.g. "sub/.git": fetchgit deletes the .git of submodules too).
    """
    h = hashlib.sha256()
    _dump(path, h.update, exclude_git=exclude_git, empty_dirs=empty_dirs, exclude=exclude)
    return to_sri(h.digest())


def nar_dump(path: str | os.PathLike[str] | bytes, stream: BinaryIO, *, exclude_git: bool = False) -> None:
    """Write the NAR itself to `stream` (what `nix-store --dump` prints); for checking and debugging."""
    _dump(path, stream.write, exclude_git=exclude_git, empty_dirs=())
