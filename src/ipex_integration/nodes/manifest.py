"""The manifest of custom nodes: which git repository, at which revision, with which NAR hash.

TOML, one table per node, keyed by the node's directory name under ComfyUI's custom_nodes:

    [nodes.comfyui_controlnet_aux]
    owner = "Fannovel16"                  # GitHub owner/repo (url derived), or give url = "..."
    repo = "comfyui_controlnet_aux"
    ref = "main"                          # optional branch or tag that `ipex nodes lock --update` follows
    rev = "e8b689a5..."                   # the commit (40 hex); may be left out when ref is given
    hash = "sha256-..."                   # `nix hash path` of the checkout without .git; fakeHash/"" = not yet known
    requirements = "requirements.txt"     # optional; "" = none; default: requirements.txt if the tree has one
    subdir = "comfy"                      # optional: only this directory of the repo becomes the node

    [[nodes.ComfyUI_UltimateSDUpscale.submodules]]   # a git submodule, pinned as its own tree
    path = "repositories/ultimate_sd_upscale"
    owner = "Coyote-A"
    repo = "ultimate-upscale-for-automatic1111"
    rev = "2322caa4..."                   # optional: defaults to the commit the parent's tree records
    hash = "sha256-..."
    # (node table) hash_with_submodules = "sha256-..."  the whole tree as fetchFromGitHub fetchSubmodules = true

Keys stay flat and simple so Nix reads the same file with builtins.fromTOML and feeds fetchFromGitHub.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from ..errors import ConfigError
from .hashes import is_placeholder, parse_hash

CATALOG_RESOURCE = "nodes_catalog.toml"
USER_MANIFEST_NAME = "nodes.toml"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REV = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([^/]+)/([^/]+?)(?:\.git)?/?$")
_URL = re.compile(r"^(?:(?:https?|git|ssh|file)://\S+|[\w.-]+@[\w.-]+:\S+)$")
_NODE_KEYS = {"owner", "repo", "url", "ref", "rev", "hash", "requirements", "subdir", "submodules", "description",
              "hash_with_submodules"}
_SUB_KEYS = {"path", "owner", "repo", "url", "rev", "hash"}


@dataclass(frozen=True)
class Source:
    """One git tree: where it comes from, and (once known) which commit and which hash."""

    url: str
    rev: str | None = None
    hash: str | None = None  # SRI; None when missing or a placeholder (see written_hash)
    written_hash: str | None = None  # the hash text as the manifest wrote it (to report placeholders)
    owner: str | None = None  # GitHub owner/repo when the url is on GitHub (what fetchFromGitHub takes)
    repo: str | None = None

    @property
    def placeholder(self) -> bool:
        return self.hash is None


@dataclass(frozen=True)
class Submodule:
    path: str  # relative to the repository root
    source: Source


@dataclass(frozen=True)
class NodeSpec:
    name: str  # directory name under custom_nodes
    source: Source
    ref: str | None = None
    requirements: str | None = None  # None: requirements.txt if present; "": none
    subdir: str | None = None
    submodules: tuple[Submodule, ...] = ()
    description: str = ""
    origin: str = ""  # which file defined it (for messages)
    # The hash of the tree with submodules filled in and every .git removed: what
    # fetchFromGitHub { ...; fetchSubmodules = true; } wants. Informational for Nix; our installer checks the parts.
    hash_with_submodules: str | None = None

    @property
    def pinned(self) -> bool:
        """True when nothing needs resolving: the commit and the hash of every tree are known."""
        trees = [self.source, *(s.source for s in self.submodules)]
        return all(t.rev and t.hash for t in trees)

    @property
    def submodule_paths(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.submodules)

    def with_source(self, source: Source, submodules: tuple[Submodule, ...] | None = None) -> "NodeSpec":
        return replace(self, source=source, submodules=self.submodules if submodules is None else submodules)


@dataclass(frozen=True)
class Manifest:
    nodes: Mapping[str, NodeSpec] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def get(self, name: str) -> NodeSpec:
        spec = self.nodes.get(name)
        if spec is None:
            from .model import NodeError

            known = ", ".join(sorted(self.nodes)) or "none"
            raise NodeError(f"unknown custom node {name!r}; known: {known}",
                            hint="add it to the manifest (ipex nodes list shows the catalog)")
        return spec

    def select(self, names: list[str] | tuple[str, ...]) -> list[NodeSpec]:
        return [self.get(n) for n in names] if names else list(self.nodes.values())


def github_url(owner: str, repo: str) -> str:
    return f"https://github.com/{owner}/{repo}"


def _relative(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty relative path")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or value.startswith("-"):
        raise ConfigError(f"{where}: {key} {value!r} must be a relative path inside the repository")
    return str(path)


def _text(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {type(value).__name__}")
    return value.strip()


def _source(table: Mapping[str, Any], where: str) -> Source:
    owner, repo, url = _text(table, "owner", where), _text(table, "repo", where), _text(table, "url", where)
    if (owner is None) != (repo is None):
        raise ConfigError(f"{where}: give owner and repo together (or a url)")
    if owner is not None and repo is not None:
        for key, value in (("owner", owner), ("repo", repo)):
            if not _NAME.match(value):
                raise ConfigError(f"{where}: {key} {value!r} is not a GitHub name")
        url = url or github_url(owner, repo)
    if not url:
        raise ConfigError(f"{where}: needs url, or owner and repo", hint='e.g. owner = "ssitu", repo = "ComfyUI_UltimateSDUpscale"')
    if not _URL.match(url) or url.startswith("-"):
        raise ConfigError(f"{where}: url {url!r} is not a git URL (https://, ssh://, git@host:path or file://)")
    match = _GITHUB.match(url)
    if match and owner is None:
        owner, repo = match.group(1), match.group(2)
    rev = _text(table, "rev", where)
    if rev is not None and not _REV.match(rev.lower()):
        raise ConfigError(f"{where}: rev {rev!r} is not a full commit id (40 hex digits)",
                          hint="put branch or tag names in ref = ...; `ipex nodes lock` resolves them")
    written = table.get("hash")
    if written is not None and not isinstance(written, str):
        raise ConfigError(f"{where}: hash must be a string")
    digest = None if is_placeholder(written) else parse_hash(written, where=f"{where}: hash")
    return Source(url=url, rev=rev.lower() if rev else None, hash=digest, written_hash=written, owner=owner, repo=repo)


def parse_node(name: str, table: Any, origin: str) -> NodeSpec:
    where = f"{origin}: node {name!r}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: the name must be a plain directory name (letters, digits, . _ -)")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(table) - _NODE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                          hint=f"known keys: {', '.join(sorted(_NODE_KEYS))}")
    source = _source(table, where)
    ref = _text(table, "ref", where)
    if ref is not None and (not ref or ref.startswith("-") or any(c.isspace() for c in ref)):
        raise ConfigError(f"{where}: ref {ref!r} is not a branch or tag name")
    if source.rev is None and ref is None:
        raise ConfigError(f"{where}: needs rev (a commit) or ref (a branch or tag to lock)")
    requirements = table.get("requirements")
    if requirements is not None:
        if not isinstance(requirements, str):
            raise ConfigError(f"{where}: requirements must be a path string ('' for none)")
        requirements = _relative(requirements, where, "requirements") if requirements.strip() else ""
    subdir = _relative(table["subdir"], where, "subdir") if table.get("subdir") else None
    raw_subs = table.get("submodules", [])
    if not isinstance(raw_subs, list):
        raise ConfigError(f"{where}: submodules must be an array of tables ([[nodes.{name}.submodules]])")
    if raw_subs and subdir:
        raise ConfigError(f"{where}: subdir and submodules cannot be combined")
    submodules = []
    for i, sub in enumerate(raw_subs):
        sub_where = f"{where}: submodules[{i}]"
        if not isinstance(sub, Mapping):
            raise ConfigError(f"{sub_where}: must be a table")
        unknown = set(sub) - _SUB_KEYS
        if unknown:
            raise ConfigError(f"{sub_where}: unknown key(s) {', '.join(sorted(unknown))}")
        path = _relative(sub.get("path"), sub_where, "path")
        submodules.append(Submodule(path=path, source=_source(sub, sub_where)))
    paths = [s.path for s in submodules]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"{where}: a submodule path is listed twice")
    description = table.get("description", "")
    combined = _text(table, "hash_with_submodules", where)
    if combined is not None:
        if not submodules:
            raise ConfigError(f"{where}: hash_with_submodules needs submodules")
        combined = None if is_placeholder(combined) else parse_hash(combined, where=f"{where}: hash_with_submodules")
    return NodeSpec(
        name=name, source=source, ref=ref, requirements=requirements, subdir=subdir,
        submodules=tuple(submodules), description=str(description), origin=origin,
        hash_with_submodules=combined,
    )


def parse_manifest(text: str, origin: str) -> Manifest:
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{origin}: nested too deeply to read") from None
    except ValueError as exc:  # TOMLDecodeError, or a number past Python's int-digits limit
        raise ConfigError(f"{origin}: not valid TOML: {' '.join(str(exc).split())[:200]}") from None
    nodes = data.get("nodes", {})
    if not isinstance(nodes, Mapping):
        raise ConfigError(f"{origin}: [nodes] must be a table of node tables")
    unknown = set(data) - {"nodes", "version"}
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}",
                          hint="each node is a table [nodes.NAME]")
    return Manifest({name: parse_node(name, table, origin) for name, table in nodes.items()}, (origin,))


def load_manifest_file(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"manifest {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc}") from None
    return parse_manifest(text, str(path))


def catalog_text() -> str:
    from importlib.resources import files

    return files("ipex_integration").joinpath("data", CATALOG_RESOURCE).read_text(encoding="utf-8")


def load_catalog() -> Manifest:
    return parse_manifest(catalog_text(), f"built-in catalog ({CATALOG_RESOURCE})")


def user_manifest_path(environ: Mapping[str, str] | None = None) -> Path:
    from ..paths import config_dir

    return config_dir(environ) / USER_MANIFEST_NAME


def load_manifest(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Manifest:
    """The manifest in effect: `path` alone if given; else the built-in catalog overlaid by the user's
    config_dir()/nodes.toml (a user entry replaces the catalog entry of the same name)."""
    if path is not None:
        return load_manifest_file(path)
    catalog = load_catalog()
    user_path = user_manifest_path(environ)
    if not user_path.exists():
        return catalog
    user = load_manifest_file(user_path)
    return Manifest({**catalog.nodes, **user.nodes}, catalog.sources + user.sources)
