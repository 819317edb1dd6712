"""The flags the installed ComfyUI accepts, and the translation of a DevicePlan into ComfyUI's own flags.

The flag set is read from the checkout's comfy/cli_args.py with `ast` (ComfyUI is never imported here: that
would need its dependencies and torch), by collecting its `parser.add_argument(...)` calls. It is cached by
the file's content hash, which changes with every version, commit or local edit.

Flags drift between versions (`--normalvram` and `--disable-ipex-optimize` removed, `--cuda-device` int then
string, `--oneapi-device-selector` added in December 2024) and cli_args.py uses `parse_args`, so an unknown
flag stops ComfyUI with exit 2 after a slow start. We check every flag against the installed set first.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..state import atomic_write_text, read_json
from ..errors import ConfigError, UsageError
from ..paths import cache_dir
from ..plan.model import DevicePlan
from ..runtime.model import Backend
from . import ComfyUIError

CLI_ARGS = Path("comfy") / "cli_args.py"
DEFAULT_LISTEN = "127.0.0.1"  # ComfyUI's own default too; we pass it so the argv says so
DEFAULT_PORT = 8188
_CACHE_FORMAT = 2  # 2: choices derived from an Enum type

# How many values an option takes, from argparse's action/nargs.
NONE, ONE, OPTIONAL, ANY, SOME = "none", "one", "optional", "any", "some"
_NO_VALUE_ACTIONS = {"store_true", "store_false", "store_const", "append_const", "count", "help", "version"}


@dataclass(frozen=True)
class FlagSpec:
    """One option of ComfyUI's parser."""

    options: tuple[str, ...]  # ("--cuda-device",)
    dest: str
    values: str = ONE  # NONE | ONE | OPTIONAL | ANY | SOME
    type: str | None = None  # "int", "str", "float", or the name of a converter/enum ("is_valid_directory")
    choices: tuple[str, ...] | None = None  # literal choices, or the values of the Enum named by `type`
    default: Any = None  # a literal default, else None
    const: Any = None
    group: str | None = None  # the mutually exclusive group's variable name in cli_args.py

    @property
    def name(self) -> str:
        return self.options[-1]


@dataclass(frozen=True)
class FlagSet:
    """Every option one ComfyUI version accepts (`-h/--help` included, as argparse adds it)."""

    flags: tuple[FlagSpec, ...]
    source: str  # path of the cli_args.py it was read from
    sha256: str
    version: str | None = None

    def lookup(self, option: str) -> FlagSpec | None:
        """The flag `option` names, with argparse's unique-prefix abbreviations (allow_abbrev is on)."""
        exact = [f for f in self.flags if option in f.options]
        if exact:
            return exact[0]
        if not option.startswith("--"):
            return None
        matches = {f for f in self.flags for o in f.options if o.startswith("--") and o.startswith(option)}
        if len(matches) > 1:
            names = ", ".join(sorted(f.name for f in matches))
            raise UsageError(f"ComfyUI option {option} is ambiguous: it could be {names}")
        return matches.pop() if matches else None

    def accepts(self, option: str) -> bool:
        return any(option in f.options for f in self.flags)

    def get(self, option: str) -> FlagSpec | None:
        return next((f for f in self.flags if option in f.options), None)

    def group_members(self, group: str) -> tuple[FlagSpec, ...]:
        return tuple(f for f in self.flags if f.group == group)

    def to_dict(self) -> dict:
        return {
            "format": _CACHE_FORMAT,
            "version": self.version,
            "source": self.source,
            "sha256": self.sha256,
            "flags": [_spec_to_dict(f) for f in self.flags],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "FlagSet":
        flags = tuple(
            FlagSpec(**{**f, "options": tuple(f["options"]), "choices": _tuple_or_none(f.get("choices"))})
            for f in data["flags"]
        )
        return cls(flags=flags, source=data["source"], sha256=data["sha256"], version=data.get("version"))


def _spec_to_dict(spec: FlagSpec) -> dict:
    data = asdict(spec)
    data["options"] = list(spec.options)
    data["choices"] = list(spec.choices) if spec.choices is not None else None
    return data


def _tuple_or_none(value) -> tuple | None:
    return tuple(value) if value is not None else None


# --- reading cli_args.py ----------------------------------------------------------------------------------


def read_flag_set(
    checkout: str | Path,
    *,
    version: str | None = None,
    environ: Mapping[str, str] | None = None,
    use_cache: bool = True,
) -> FlagSet:
    """The flags of the ComfyUI in `checkout`, from the cache when this exact cli_args.py was read before."""
    path = Path(checkout) / CLI_ARGS
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ComfyUIError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="is this a ComfyUI checkout? `ipex comfyui use DIR` registers one",
        ) from None
    digest = hashlib.sha256(source).hexdigest()
    cache_file = cache_dir(environ) / "comfyui-flags" / f"{digest[:24]}.json"
    if use_cache:
        cached = _load_cached(cache_file, digest)
        if cached is not None:
            return FlagSet(cached.flags, str(path), digest, version)
    flags = parse_cli_args(source.decode("utf-8", errors="replace"), filename=str(path))
    flag_set = FlagSet(flags, str(path), digest, version)
    if use_cache:
        try:
            atomic_write_text(cache_file, json.dumps(flag_set.to_dict(), indent=1))
        except OSError:
            pass  # a cache we cannot write only costs a re-parse next time
    return flag_set


def _load_cached(cache_file: Path, digest: str) -> FlagSet | None:
    try:
        data = read_json(cache_file, what="ComfyUI flag-set cache")
        if data.get("format") != _CACHE_FORMAT or data.get("sha256") != digest:
            return None
        return FlagSet.from_dict(data)
    except (ConfigError, ValueError, KeyError, TypeError):  # a bad cache is a miss
        return None


def parse_cli_args(text: str, *, filename: str = "cli_args.py") -> tuple[FlagSpec, ...]:
    """Collect the options of every `X.add_argument(...)` call, X being the parser or one of its groups."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise ComfyUIError(f"cannot parse {filename}: {exc.msg} (line {exc.lineno})") from None
    exclusive_groups = _exclusive_groups(tree)
    enums = _enums(tree)
    found: list[tuple[int, int, FlagSpec]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            spec = _flag_from_call(node, exclusive_groups, enums)
            if spec is not None:
                found.append((node.lineno, node.col_offset, spec))
    found.sort(key=lambda item: item[:2])  # the file's order, which is also the order of `--help`
    return (FlagSpec(options=("-h", "--help"), dest="help", values=NONE),) + tuple(f[2] for f in found)


def _exclusive_groups(tree: ast.AST) -> set[str]:
    """Names bound to `parser.add_mutually_exclusive_group()`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr == "add_mutually_exclusive_group":
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _enums(tree: ast.AST) -> dict[str, tuple[str, ...]]:
    """Enum classes of the file -> their members' values (`class X(enum.Enum): A = "a"`), for choices: an
    option typed by one accepts exactly those values (argparse calls X("a"); ComfyUI's EnumAction lists them)."""
    enums: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None) for b in node.bases}
        if "Enum" not in bases:
            continue
        values = [item.value.value for item in node.body
                  if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant)]
        if values:
            enums[node.name] = tuple(str(v) for v in values)
    return enums


def _flag_from_call(node: ast.Call, exclusive_groups: set[str], enums: Mapping[str, tuple[str, ...]]) -> FlagSpec | None:
    options = tuple(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    options = tuple(o for o in options if o.startswith("-"))
    if not options:
        return None  # a positional argument; ComfyUI has none
    kw = {k.arg: k.value for k in node.keywords if k.arg}
    action = _name_or_literal(kw.get("action"))
    nargs = _literal(kw.get("nargs"))
    if action in _NO_VALUE_ACTIONS:
        values = NONE
    elif nargs == "?":
        values = OPTIONAL
    elif nargs == "*":
        values = ANY
    elif nargs == "+" or (isinstance(nargs, int) and nargs > 1):
        values = SOME
    else:
        values = ONE
    long_options = [o for o in options if o.startswith("--")]
    dest = _literal(kw.get("dest")) or (long_options[0] if long_options else options[0]).lstrip("-").replace("-", "_")
    receiver = node.func.value
    group = receiver.id if isinstance(receiver, ast.Name) and receiver.id in exclusive_groups else None
    choices = _literal(kw.get("choices"))
    type_name = _name_or_literal(kw.get("type"))
    if isinstance(choices, (list, tuple)):
        choices = tuple(str(c) for c in choices)
    else:
        choices = enums.get(type_name) if type_name else None
    return FlagSpec(
        options=options,
        dest=str(dest),
        values=values,
        type=type_name,
        choices=choices,
        default=_jsonable(_literal(kw.get("default"))),
        const=_jsonable(_literal(kw.get("const"))),
        group=group,
    )


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _name_or_literal(node: ast.AST | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    value = _literal(node)
    return value if isinstance(value, str) else None


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


# --- reading the user's ComfyUI arguments -----------------------------------------------------------------


@dataclass(frozen=True)
class GivenFlag:
    """One option found in an argv, resolved against a FlagSet."""

    spec: FlagSpec
    token: str  # as written ("--port=8189", "--lis")
    values: tuple[str, ...]


def scan_argv(argv: Sequence[str], flag_set: FlagSet, *, version_label: str) -> tuple[GivenFlag, ...]:
    """Resolve every option in `argv` as ComfyUI's argparse would; an option it lacks is a UsageError."""
    found: list[GivenFlag] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            break  # what follows is positional; ComfyUI takes none and will say so itself
        if not token.startswith("-") or token == "-" or _is_number(token):
            raise UsageError(
                f"unexpected argument {token!r} for ComfyUI {version_label}: it takes options only",
                hint="pass a value right after its option, e.g. --port 8189",
            )
        option, has_inline, inline = token.partition("=")
        spec = flag_set.lookup(option)
        if spec is None:
            raise UsageError(
                f"ComfyUI {version_label} does not accept {option}",
                hint="`ipex comfyui flags` lists the flags the installed ComfyUI accepts",
            )
        values: list[str] = [inline] if has_inline else []
        if not has_inline:
            if spec.values == ONE:
                if i >= len(argv):
                    raise UsageError(f"ComfyUI {version_label} option {option} needs a value")
                values.append(argv[i])
                i += 1
            elif spec.values in (OPTIONAL, ANY, SOME):
                while i < len(argv) and (not argv[i].startswith("-") or _is_number(argv[i])):
                    values.append(argv[i])
                    i += 1
                    if spec.values == OPTIONAL:
                        break
                if spec.values == SOME and not values:
                    raise UsageError(f"ComfyUI {version_label} option {option} needs at least one value")
        elif spec.values == NONE:
            raise UsageError(f"ComfyUI {version_label} option {option} takes no value (got {token!r})")
        found.append(GivenFlag(spec, token, tuple(values)))
    return tuple(found)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --- translating a plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """ComfyUI's argv for a plan: our flags first, then the user's, unchanged."""

    argv: tuple[str, ...]
    added: tuple[str, ...]
    listen: str
    port: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def translate(
    plan: DevicePlan,
    flag_set: FlagSet,
    passthrough: Sequence[str],
    *,
    version_label: str = "(installed)",
) -> Translation:
    """Turn the plan's device choice into the installed ComfyUI's flags and check the user's flags.

    The child's environment already carries the plan's visibility variables; the device flags repeat them
    where this ComfyUI accepts them (main.py turns them into the same variables). `--cpu` has no variable
    equivalent, so a ComfyUI without it is an error."""
    given = scan_argv(passthrough, flag_set, version_label=version_label)
    by_dest = {g.spec.dest: g for g in given}
    added: list[str] = []
    notes: list[str] = []

    if plan.backend is Backend.CPU:
        if not flag_set.accepts("--cpu"):
            raise UsageError(
                f"ComfyUI {version_label} has no --cpu flag, so it cannot be told to run on the CPU",
                hint="install a newer ComfyUI: ipex comfyui install",
            )
        _check_exclusive(flag_set.get("--cpu"), given, version_label)
        added.append("--cpu")
        notes.append("--cpu: the plan runs on the CPU")
    else:
        variable, option = (
            ("CUDA_VISIBLE_DEVICES", "--cuda-device") if plan.backend is Backend.CUDA
            else ("ONEAPI_DEVICE_SELECTOR", "--oneapi-device-selector")
        )
        spec = flag_set.get(option)
        value = plan.env.get(variable)
        if spec is not None and spec.dest in by_dest:
            notes.append(f"{option}: yours ({by_dest[spec.dest].token} ...) is kept; it overrides {variable}")
        elif value is None:
            pass  # the user's own visibility variable decides; nothing to repeat
        elif spec is None:
            notes.append(f"{option}: ComfyUI {version_label} lacks it; {variable}={value} in its environment selects the device")
        elif spec.type == "int" and not value.isdigit():
            notes.append(f"{option}: ComfyUI {version_label} takes a number only; {variable}={value} selects the device")
        else:
            added += [option, value]
            notes.append(f"{option} {value}: the plan's {variable}")

    listen_flag = flag_set.get("--listen")
    if listen_flag is not None and listen_flag.dest in by_dest:
        values = by_dest[listen_flag.dest].values
        listen = values[0] if values else str(listen_flag.const or "0.0.0.0,::")
    else:
        listen = DEFAULT_LISTEN
        if listen_flag is not None:
            added += ["--listen", DEFAULT_LISTEN]
    port_flag = flag_set.get("--port")
    port = _port(by_dest[port_flag.dest].values if port_flag is not None and port_flag.dest in by_dest else (),
                 port_flag.default if port_flag is not None else None)
    return Translation(tuple(added) + tuple(passthrough), tuple(added), listen, port, tuple(notes))


def _port(values: Sequence[str], default: Any) -> int:
    text = values[-1] if values else default
    try:
        port = int(text) if text is not None else DEFAULT_PORT
    except (TypeError, ValueError):
        raise UsageError(f"--port needs a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {port}")
    return port


def _check_exclusive(ours: FlagSpec | None, given: Sequence[GivenFlag], version_label: str) -> None:
    """ComfyUI's argparse rejects two options of one mutually exclusive group: say so before it starts."""
    if ours is None or ours.group is None:
        return
    for flag in given:
        if flag.spec.group == ours.group and flag.spec is not ours:
            raise UsageError(
                f"{flag.spec.name} cannot be combined with CPU mode: ComfyUI {version_label} allows only one "
                f"of {', '.join(o.name for o in _group(given, ours))}",
                hint=f"drop {flag.spec.name}, or choose a GPU instead of the CPU",
            )


def _group(given: Sequence[GivenFlag], ours: FlagSpec) -> tuple[FlagSpec, ...]:
    members = [ours] + [g.spec for g in given if g.spec.group == ours.group and g.spec is not ours]
    return tuple(members)
