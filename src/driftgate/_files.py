"""Reading configuration files with line numbers, so errors name file, line and field.

YAML and JSON files are parsed once into plain data and once into a node tree that
remembers where each key and value starts; a pydantic error location is mapped back to a
line through that tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _yaml_loader():
    # CSafeLoader is several times faster; fall back to the pure-Python one.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_data(path: Path, text: str | None = None) -> Any:
    """Parse a YAML or JSON file into plain data; syntax errors name the line.

    A document nested deeper than Python's recursion allows, or a YAML document whose
    aliases expand past `MAX_EXPANDED_NODES` (a "billion laughs" bomb), is refused naming
    the file instead of exhausting the stack or the memory."""
    if text is None:
        text = read_text(path)
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        except RecursionError:
            raise _too_deep(path) from None
    try:
        if "&" in text and "*" in text:  # anchors and aliases: count what they expand to
            _check_alias_expansion(path, text)
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise _too_deep(path) from None


# A YAML document may reuse nodes through aliases, but what they expand to is bounded: at
# most this many nodes, or 10 times the nodes written when that is more. A 400-byte alias
# bomb expands to hundreds of millions (issue #16); hand-written files stay far below.
MAX_EXPANDED_NODES = 100_000


def _check_alias_expansion(path: Path, text: str) -> None:
    node = yaml.compose(text, Loader=_yaml_loader())
    if node is None:
        return
    sizes: dict[int, int] = {}  # id(node) -> expanded size: linear in the nodes written
    written = 0
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:  # post-order without recursion: deep documents do not blow the stack
        current, done = stack.pop()
        if id(current) in sizes:
            continue
        children: list[Any] = []
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if not done:
            written += 1
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(current)] = 1 + sum(sizes.get(id(c), 1) for c in children)
    expanded = sizes[id(node)]
    limit = max(MAX_EXPANDED_NODES, 10 * written)
    if expanded > limit:
        raise ConfigError(
            f"YAML aliases expand {written:,} nodes to {expanded:,}, over the limit of "
            f"{limit:,} (an alias bomb?)",
            path=path,
            hint="write the data out instead of repeating it through `&anchor` / `*alias`",
        )


def _too_deep(path: Path | str, line: int | None = None) -> ConfigError:
    return ConfigError(
        "nested too deeply to parse (thousands of levels of lists/objects)", path=path, line=line
    )


def read_text(path: Path) -> str:
    """A text file's content, a leading UTF-8 byte-order mark (what Excel and Notepad
    write) dropped. A binary file or bytes that are not UTF-8 are a ConfigError naming the
    file, the line and the byte offset."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file", path=path) from None
    return decode_text(data, path)


BOM = "\ufeff"


def decode_text(data: bytes, path: Path | str, *, first_line: int = 1, offset: int = 0) -> str:
    """`data` (the file's bytes from `offset`, starting at line `first_line`) as UTF-8
    text, the BOM dropped at the file's start; a NUL byte (a binary file) or bytes that are
    not UTF-8 are a ConfigError naming the line and the byte offset in the file."""
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise ConfigError(
            f"a binary file, not text (a NUL byte at byte {offset + at})",
            path=path,
            line=first_line + data.count(b"\n", 0, at),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text ({exc.reason} at byte {offset + exc.start})",
            path=path,
            line=first_line + data.count(b"\n", 0, exc.start),
            hint="save the file as UTF-8",
        ) from None
    return text[1:] if offset == 0 and text.startswith(BOM) else text


def iter_text_lines(path: Path) -> Iterator[str]:
    """The lines of a text file, streamed, each decoded as `read_text` decodes a file."""
    try:
        fh = Path(path).open("rb")
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    offset = 0
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            yield decode_text(raw, path, first_line=lineno, offset=offset)
            offset += len(raw)


def line_of(text: str, loc: tuple[Any, ...], suffix: str = ".yaml") -> int | None:
    """Best-effort line (1-based) of the value at pydantic location `loc` in a YAML/JSON text."""
    try:
        node = yaml.compose(text, Loader=_yaml_loader())
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if node is None:
            break
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        else:
            break
    return line


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(exc: ValidationError) -> tuple[tuple[Any, ...], str]:
    """The first error's location and message, in the words a config file's author reads."""
    err = exc.errors()[0]
    # Validator markers and the tags of tagged unions (named `tag:...`) are no field names.
    loc = tuple(
        p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tag:")))
    )
    msg = err["msg"].removeprefix("Value error, ")  # our validators' own words, unprefixed
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check its spelling; `driftgate schema` lists the valid ones)"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return loc, msg


def validation_error(
    exc: ValidationError, path: Path | str, text: str | None = None, *, base_line: int | None = None
) -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming file, line and field."""
    loc, msg = _first_error(exc)
    line = base_line
    if text is not None and base_line is None:
        line = line_of(text, loc)
    return ConfigError(msg, path=path, line=line, field=format_loc(loc) or None)


def as_config_error(exc: ValidationError, path: Path | str | None = None) -> ConfigError:
    """A ValidationError raised away from a file loader (a record read back from the store,
    a command's options) as a ConfigError: the file when known, else the model's name."""
    if path is not None:
        return validation_error(exc, path)
    loc, msg = _first_error(exc)
    return ConfigError(f"invalid {exc.title}: {msg}", field=format_loc(loc) or None)


def validated(model: type[M], data: Any, path: Path | str) -> M:
    """`model.model_validate(data)` for data already read from `path` (a JSONL record, a
    stored manifest's settings): a failure names the file and field, never a raw
    ValidationError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path) from None


def load_model(model: type[M], path: Path, data: Any = None, text: str | None = None) -> M:
    """Load and validate a YAML/JSON file into `model`, with errors naming file/line/field."""
    if data is None:
        text = read_text(path) if text is None else text
        data = load_data(path, text)
    if data is None:
        raise ConfigError("file is empty", path=path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, text) from None


CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def load_named(model: type[M], path: Path) -> M:
    """Load an artifact file whose `name` defaults to the file stem (`categorize.v2.yaml` → categorize)."""
    text = read_text(path)
    data = load_data(path, text)
    if isinstance(data, dict) and "name" not in data:
        data = {"name": path.stem.split(".")[0], **data}
    return load_model(model, path, data=data, text=text)


def find_in_folder(folder: Path, name: str, kind: str, *, root: Path | None = None) -> Path:
    """`folder/NAME.yaml|yml|json`, or an UnknownNameError listing what the folder holds.

    NAME must be an artifact name (`check_name`), and the file, symlinks followed, must be
    inside `root` (the workspace; default: `folder`)."""
    from .errors import UnknownNameError

    check_name(name, kind)
    for suffix in CONFIG_SUFFIXES:
        cand = folder / f"{name}{suffix}"
        if cand.is_file():
            confined(cand, root if root is not None else folder, kind=kind, name=name)
            return cand
    valid = (
        sorted(p.stem for p in folder.glob("*") if p.suffix in CONFIG_SUFFIXES)
        if folder.is_dir()
        else []
    )
    exts = ",".join(x.lstrip(".") for x in CONFIG_SUFFIXES)
    raise UnknownNameError(kind, name, valid, searched=[f"{folder / name}.{{{exts}}}"])


# One pattern for every artifact name (route, arm, few-shot set, index; each `/`-separated
# segment of a prompt name): a letter, digit or `_` first, then letters, digits, `_`, `.`,
# `-`. A name is then never `.` or `..`, never a path and never an option, so a name can
# become a file name under the workspace or its state folder safely.
NAME_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
ARTIFACT_NAME = rf"^{NAME_SEGMENT}$"
PROMPT_NAME = rf"^{NAME_SEGMENT}(/{NAME_SEGMENT})*$"


def check_name(name: str, kind: str) -> str:
    """`name` when it matches ARTIFACT_NAME, else a ConfigError naming it and the rule."""
    import re

    if not re.match(ARTIFACT_NAME, name):
        raise ConfigError(
            f"invalid {kind} name {name!r}: a name is letters, digits, '_', '.' and '-', "
            "starting with a letter, digit or '_' (no '/', no '..')",
            hint=f"name a {kind} in its folder by NAME, or give a file path ending in .yaml",
        )
    return name


def confined(path: Path, root: Path, *, kind: str, name: str) -> Path:
    """`path` resolved (symlinks followed); a ConfigError when that leaves `root`."""
    resolved = Path(path).resolve()
    base = Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise ConfigError(
            f"{kind} {name!r} is {path}, a link to {resolved}, outside the workspace {base}",
            path=path,
            hint="copy the file into the workspace instead of linking to it",
        )
    return resolved


def iter_json_objects(
    lines: Iterable[str], path: Path | str, *, what: str = "a record"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL text; errors name file and line."""
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if lineno == 1 and raw.startswith(BOM):
            raw = raw[1:]  # a byte-order mark: dropped, as read_text drops it
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", path=path, line=lineno) from None
        except RecursionError:
            raise _too_deep(path, lineno) from None
        if not isinstance(record, dict):
            raise ConfigError(f"{what} must be a JSON object", path=path, line=lineno)
        yield lineno, record
