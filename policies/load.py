"""Policy files in, ``Policy`` out, or every problem with its file, line and column.

The file is hostile input: before anything is built from it, its size is bounded, and its YAML
events are scanned (without composing nodes, so an alias bomb costs nothing) for anchors,
aliases, merge keys, explicit tags, more than one document, and nesting deeper than ``MAX_DEPTH``. Then
ruamel.yaml's round-trip loader builds the tree (refusing duplicate keys) and keeps every node's
line and column, the tree is validated against ``policies/schema.json``, and every schema error is
placed at the node it is about (its key for an unknown key). Meaning the schema cannot express
(unique rule names, time zones, hours, day names, path globs) is checked after.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
    ScalarEvent,
)

from fixers.models import Category, Confidence, Impact, Risk
from policies.model import (
    DAY_NAMES,
    END_OF_DAY,
    Match,
    Policy,
    PolicyError,
    PolicyProblem,
    RequiredCheck,
    RollbackSettings,
    Rule,
    Window,
)
from policies.reasons import Action

MAX_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_RULES = 500
MAX_PROBLEMS = 100          # a file with more is not read further: the first hundred say enough
SCHEMA_PATH = Path(__file__).with_name("schema.json")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HOURS = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,3}")


def policy_digest(data: bytes | str) -> str:
    return hashlib.sha256(_bytes(data)).hexdigest()


def _bytes(data: bytes | str) -> bytes:
    # surrogatepass: a str holding lone surrogates becomes bytes that fail UTF-8 decoding, a problem
    # with its position, instead of an exception here.
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@lru_cache(maxsize=2)
def _validator(repository: bool) -> jsonschema.Draft202012Validator:
    full = schema()
    root = {**full["$defs"]["repository_policy"], "$defs": full["$defs"]} if repository else full
    return jsonschema.Draft202012Validator(root)


def load_policy(data: bytes | str, source: str) -> Policy:
    """The central policy in ``data`` (read from ``source``, which names it in problems)."""
    return _load(data, source, repository=False)


def load_repo_policy(data: bytes | str, source: str) -> Policy:
    """A repository's ``.github/iacbot.yml``: version, rules, and required checks to add."""
    return _load(data, source, repository=True)


def _load(data: bytes | str, source: str, repository: bool) -> Policy:
    raw = _bytes(data)
    problems = _Problems(source)
    tree = _read_yaml(raw, problems)
    if problems:
        raise PolicyError(problems.sorted())
    for error in _validator(repository).iter_errors(tree):
        _schema_problem(error, tree, problems)
        if problems.full():
            break
    if not problems:
        _check_meaning(tree, problems)
    if problems:
        raise PolicyError(problems.sorted())
    return _build(tree, source, policy_digest(raw), repository)


class _Problems(list):
    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def add(self, at: tuple[int, int], message: str) -> None:
        if not self.full():
            self.append(PolicyProblem(self.source, at[0], at[1], message))

    def full(self) -> bool:
        return len(self) >= MAX_PROBLEMS

    def sorted(self) -> tuple[PolicyProblem, ...]:
        return tuple(sorted(dict.fromkeys(self), key=lambda p: (p.line, p.column, p.message)))


# -- reading the YAML, bounded ------------------------------------------------------------------

def _read_yaml(raw: bytes, problems: _Problems) -> Any:
    if len(raw) > MAX_BYTES:
        problems.add((1, 1), f"the file is {len(raw)} bytes; a policy file is at most {MAX_BYTES} bytes")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.add(_offset_position(raw, e.start), "the file is not UTF-8 text")
        return None
    if "\x00" in text:
        problems.add(_offset_position(raw, raw.index(b"\x00")), "the file holds a NUL byte")
        return None
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        if not _events_acceptable(yaml, text, problems):
            return None
        tree = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problems.add(_mark_position(mark), _yaml_message(e))
        return None
    except (YAMLError, ValueError, RecursionError) as e:    # e.g. an integer of 5,000 digits
        problems.add((1, 1), f"the file cannot be read as YAML: {_short(str(e).splitlines()[0] if str(e) else type(e).__name__)}")
        return None
    except Exception as e:   # noqa: BLE001 -- hostile input must end as a problem, whatever the parser trips on
        problems.add((1, 1), f"the file cannot be read as YAML ({type(e).__name__})")
        return None
    if tree is None:
        problems.add((1, 1), "the file is empty: a policy starts with 'version: 1'")
        return None
    _check_keys(tree, problems)
    return tree


def _events_acceptable(yaml: YAML, text: str, problems: _Problems) -> bool:
    depth, documents = 0, 0
    for event in yaml.parse(text):
        at = _mark_position(event.start_mark)
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                problems.add(at, "a policy file holds one YAML document")
                return False
        elif isinstance(event, AliasEvent):
            problems.add(at, "YAML aliases (*name) are not accepted in a policy file")
        elif isinstance(event, NodeEvent):
            if event.anchor is not None:
                problems.add(at, "YAML anchors (&name) are not accepted in a policy file")
            if getattr(event, "tag", None) is not None:
                problems.add(at, f"YAML tags ({_short(str(event.tag))}) are not accepted in a policy file")
            if isinstance(event, ScalarEvent) and event.value == "<<" and event.style is None:
                problems.add(at, "YAML merge keys (<<) are not accepted in a policy file")
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                problems.add(at, f"nested deeper than {MAX_DEPTH} levels")
                return False
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
        if problems.full():
            return False
    return not problems


def _check_keys(node: Any, problems: _Problems) -> None:
    """Keys are text (a YAML mapping may have numbers, lists or null as keys)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if not isinstance(key, str):
                    problems.add(_key_position(current, key), f"a key must be text, not {_kind(key)}")
                stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


def _yaml_message(e: MarkedYAMLError) -> str:
    if type(e).__name__ == "DuplicateKeyError":
        key = re.search(r'found duplicate key "([^"]*)"', str(e))
        return f"duplicate key '{_short(key.group(1)) if key else '?'}'"
    return f"not valid YAML: {_short(e.problem or e.context or type(e).__name__)}"


def _offset_position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    return line, offset - (before.rfind(b"\n") + 1) + 1


def _mark_position(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


# -- where a node is -----------------------------------------------------------------------

def _node_position(tree: Any, path: Iterable) -> tuple[int, int]:
    """The 1-based line and column of the node at ``path`` (the value of a key, an item), or of the
    deepest ancestor that has one."""
    line, col = getattr(getattr(tree, "lc", None), "line", 0) or 0, getattr(getattr(tree, "lc", None), "col", 0) or 0
    node = tree
    for step in path:
        try:
            if isinstance(node, dict) and step in node:
                line, col = node.lc.value(step)
            elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
                line, col = node.lc.item(step)
            else:
                break
            node = node[step]
        except (AttributeError, KeyError, TypeError):
            break
    return line + 1, col + 1


def _key_position(mapping: Any, key: Any) -> tuple[int, int]:
    try:
        line, col = mapping.lc.key(key)
        return line + 1, col + 1
    except (AttributeError, KeyError, TypeError):
        return _node_position(mapping, ())


def _path_text(path: Iterable) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "the policy"


# -- schema errors, as people read them ---------------------------------------------------------

def _schema_problem(error: jsonschema.ValidationError, tree: Any, problems: _Problems) -> None:
    path = list(error.absolute_path)
    where = _path_text(path)
    at = _node_position(tree, path)
    node, kind = error.instance, error.validator
    if kind == "additionalProperties" and isinstance(node, dict):
        allowed = sorted(error.schema.get("properties", {}))
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                also = f"; did you mean '{hint[0]}'?" if hint else f"; allowed here: {', '.join(allowed)}"
                problems.add(_key_position(_node_at(tree, path), key), f"{where}: unknown key '{_short(str(key))}'{also}")
        return
    if kind == "required" and isinstance(node, dict):
        for key in error.validator_value:
            if key not in node:
                problems.add(at, f"{where}: missing required key '{key}'")
        return
    if kind == "type":
        problems.add(at, f"{where}: expected {_type_text(error.validator_value)}, got {_kind(node)}")
    elif kind == "enum":
        problems.add(at, f"{where}: {_short(repr(node))} is not one of: {', '.join(map(str, error.validator_value))}")
    elif kind == "const":
        problems.add(at, f"{where}: must be {error.validator_value!r}, not {_short(repr(node))}")
    elif kind == "pattern" and path and path[-1] == "name":
        problems.add(at, f"{where}: {_short(repr(node))} is not a rule name (letters, digits, '.', '_', '-', at most 64)")
    elif kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        problems.add(at, f"{where}: {_short(repr(node))} must be {word} {error.validator_value}")
    elif kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        problems.add(at, f"{where}: must list {word} {error.validator_value} item(s), has {len(node)}")
    elif kind == "uniqueItems":
        problems.add(at, f"{where}: lists an item twice")
    elif kind in ("minLength", "maxLength"):
        word = "at least" if kind == "minLength" else "at most"
        problems.add(at, f"{where}: must be {word} {error.validator_value} characters long")
    else:
        problems.add(at, f"{where}: {_short(error.message, 160)}")


def _node_at(tree: Any, path: list) -> Any:
    node = tree
    for step in path:
        node = node[step]
    return node


def _type_text(value: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
             "boolean": "true or false", "number": "a number", "null": "nothing"}
    values = value if isinstance(value, list) else [value]
    return " or ".join(names.get(v, v) for v in values)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):    # a complex YAML key is a tuple
        return "a list"
    return type(value).__name__


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- meaning the schema cannot express ------------------------------------------------------

def _check_meaning(tree: dict, problems: _Problems) -> None:
    seen: dict[str, int] = {}
    for i, rule in enumerate(tree.get("rules") or ()):
        name = rule["name"]
        at = _node_position(tree, ["rules", i, "name"])
        if name in seen:
            problems.add(at, f"rules[{i}].name: '{name}' is already the name of the rule at line {seen[name]}")
        else:
            seen[name] = at[0]
        match = rule["match"]
        if "window" in match:
            _check_window(tree, ["rules", i, "match", "window"], problems)
        for key in ("paths", "not_paths"):
            for j, glob in enumerate(match.get(key) or ()):
                message = _path_glob_problem(glob)
                if message:
                    problems.add(_node_position(tree, ["rules", i, "match", key, j]),
                                 f"rules[{i}].match.{key}[{j}]: {message}")
    if isinstance(tree.get("automerge"), dict) and "window" in tree["automerge"]:
        _check_window(tree, ["automerge", "window"], problems)


def _path_glob_problem(glob: str) -> str | None:
    if glob.startswith("/"):
        return f"'{_short(glob)}': a path glob is relative to the repository's root (no leading '/')"
    if any(part in ("", ".", "..") for part in glob.split("/")):
        return f"'{_short(glob)}': a path glob has no empty, '.' or '..' parts"
    return None


def _check_window(tree: dict, path: list, problems: _Problems) -> None:
    window = _node_at(tree, path)
    where = _path_text(path)
    for j, day in enumerate(window.get("days") or ()):
        if _day_index(day) is None:
            problems.add(_node_position(tree, path + ["days", j]),
                         f"{where}.days[{j}]: unknown day '{_short(day)}' (mon, tue, wed, thu, fri, sat, sun)")
    days = [d for d in (_day_index(x) for x in window.get("days") or ()) if d is not None]
    if len(days) != len(set(days)):
        problems.add(_node_position(tree, path + ["days"]), f"{where}.days: names a day twice")
    if "hours" in window and _parse_hours(window["hours"]) is None:
        problems.add(_node_position(tree, path + ["hours"]),
                     f"{where}.hours: '{_short(window['hours'])}' is not HH:MM-HH:MM (00:00 to 24:00)")
    if not _zone_ok(window["timezone"]):
        problems.add(_node_position(tree, path + ["timezone"]),
                     f"{where}.timezone: unknown time zone '{_short(window['timezone'])}' (an IANA name such as "
                     "Europe/Berlin or UTC)")


def _day_index(day: str) -> int | None:
    low = day.lower()
    if low in DAY_NAMES:
        return DAY_NAMES.index(low)
    if low in _FULL_DAYS:
        return _FULL_DAYS.index(low)
    return None


def _parse_hours(hours: str) -> tuple[time, time] | None:
    m = _HOURS.fullmatch(hours)
    if not m:
        return None
    sh, sm, eh, em = (int(g) for g in m.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        return None
    return time(sh, sm), (END_OF_DAY if eh == 24 else time(eh, em))


@lru_cache(maxsize=256)
def _zone_ok(name: str) -> bool:
    if not _ZONE_NAME.fullmatch(name):
        return False
    try:
        Window(frozenset(), time(0), time(0), name)
        return True
    except Exception:   # ZoneInfoNotFoundError, ValueError, IsADirectoryError, ...: all "unknown"
        return False


# -- building the model --------------------------------------------------------------------

def _window(data: dict | None) -> Window | None:
    if data is None:
        return None
    days = frozenset(_day_index(d) for d in data["days"]) if "days" in data else frozenset(range(7))
    start, end = _parse_hours(data["hours"]) if "hours" in data else (time(0), END_OF_DAY)
    return Window(days, start, end, str(data["timezone"]))


def _strings(values) -> tuple[str, ...] | None:
    return tuple(str(v) for v in values) if values is not None else None


def _enums(kind, values) -> frozenset | None:
    return frozenset(kind(v) for v in values) if values is not None else None


def _match(data: dict) -> Match:
    return Match(
        rule_ids=_strings(data.get("rule_ids")), fix_classes=_strings(data.get("fix_classes")),
        categories=_enums(Category, data.get("categories")), risk=_enums(Risk, data.get("risk")),
        confidence=_enums(Confidence, data.get("confidence")), impact=_enums(Impact, data.get("impact")),
        severity=_enums(str, data.get("severity")), repositories=_strings(data.get("repositories")),
        paths=_strings(data.get("paths")), not_paths=_strings(data.get("not_paths")),
        max_files=_count(data.get("max_files")), max_changed_lines=_count(data.get("max_changed_lines")),
        max_resources=_count(data.get("max_resources")), window=_window(data.get("window")))


def _count(value) -> int | None:
    return int(value) if value is not None else None     # the schema's "integer" admits 3.0


def _checks(values) -> tuple[RequiredCheck, ...]:
    checks = (RequiredCheck(str(c["name"]), str(c["app"]) if "app" in c else None) for c in values or ())
    return tuple(dict.fromkeys(checks))


def _has(tree: dict, path: list) -> bool:
    node = tree
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return True


def _rollback(data: dict | None) -> RollbackSettings:
    data = data or {}
    cap = data.get("max_reverts_per_day")
    return RollbackSettings(
        auto_revert=bool(data["auto_revert"]) if "auto_revert" in data else None,
        max_reverts_per_day=int(cap) if cap is not None else None,
        automerge_reverts=bool(data["automerge_reverts"]) if "automerge_reverts" in data else None)


_ROLLBACK_MARKS = (["rollback"], ["rollback", "auto_revert"], ["rollback", "max_reverts_per_day"],
                   ["rollback", "automerge_reverts"])


def _build(tree: dict, source: str, digest: str, repository: bool) -> Policy:
    rules = []
    for i, data in enumerate(tree.get("rules") or ()):
        line, col = _node_position(tree, ["rules", i])
        rules.append(Rule(str(data["name"]), _match(data["match"]), Action(data["action"]), line, col))
    automerge = tree.get("automerge") or {}
    marks = tuple((".".join(map(str, path)), *_node_position(tree, path))
                  for path in (["automerge"], ["automerge", "window"], ["automerge", "required_checks"], ["rules"],
                               *_ROLLBACK_MARKS)
                  if _has(tree, path))
    rollback = _rollback(tree.get("rollback"))
    if repository:
        return Policy(version=1, rules=tuple(rules), required_checks=_checks(automerge.get("required_checks")),
                      rollback=rollback, source=source, digest=digest, marks=marks)
    return Policy(
        version=1, rules=tuple(rules), required_checks=_checks(automerge.get("required_checks")),
        max_automerges_per_hour=int(automerge.get("max_per_hour", 5)), window=_window(automerge.get("window")),
        repo_may_disable=bool((tree.get("repository_policy") or {}).get("may_disable", False)),
        decline_expiry_days=int((tree.get("declines") or {}).get("expire_after_days", 90)),
        rollback=rollback, source=source, digest=digest, marks=marks)
