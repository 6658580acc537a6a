"""The template app's spec: what a goal asks for (collection, fields, search), and how a change
request edits the spec of the version it builds on.

A spec is plain JSON data (`app_spec.json`); the generated app reads it at run time, so goal
text only ever travels as data, never as code or markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .template_words import (
    FIELD_TYPES,
    FIELD_WORDS,
    FIELDS,
    REMOVE_WORDS,
    SEARCH_WORDS,
    collection_for,
    first_position,
    has_phrase,
    words,
)

SPEC_FILE = "app_spec.json"
LEGACY_CONFIG = "app_config.json"  # what the template wrote before specs: {title, goal, ...}
MAX_GOAL = 2000
MAX_CHANGE = 500
MAX_FIELDS = 12
MAX_CHANGES_KEPT = 50
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_LEAD = re.compile(
    r"^\s*(please\s+)?((can|could)\s+you\s+)?(build|make|create|write|generate|give)\s+"
    r"(me\s+|us\s+)?(an?\s+|the\s+)?((simple|small|tiny|little|basic|quick)\s+)?"
    r"((web\s*)?(app|application|site|website|page|tool)\s+)?((that|which|to|for|where)\s+)?",
    re.IGNORECASE)
_CLAUSES = re.compile(r"[,;.!?\n]+|\b(?:and|then|also|but|plus)\b", re.IGNORECASE)
_RENAME = re.compile(r"\b(?:rename|call|title)\s+(?:(?:it|the\s+app|this\s+app)\s+(?:to\s+|as\s+)?"
                     r"|(?:to|as)\s+)(?P<title>.{1,80}?)\s*$", re.IGNORECASE)
_QUOTES = ('""', "''", "“”", "‘’")
_ADD_VERBS = ("add", "include", "track", "with", "support", "allow", "show", "give", "want",
              "need", "make", "put", "record", "store", "keep", "let")


def title_for(goal: str) -> str:
    first = goal.strip().splitlines()[0] if goal.strip() else ""
    first = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    core = _LEAD.sub("", first).strip(" .!?") or first.strip(" .!?")
    parts = core.split()
    title = " ".join(parts[:8]) + ("..." if len(parts) > 8 else "")
    return (title[:1].upper() + title[1:])[:80] if title else "Your app"


def _field(key: str) -> dict[str, Any]:
    kind, label = FIELDS[key]
    return {"name": key, "type": kind, "label": label, "required": False}


def _asked_fields(tokens: list[str]) -> list[str]:
    """Field keys the words ask for, in the order the goal mentions them."""
    found = [(pos, key) for key, phrases in FIELD_WORDS.items()
             if (pos := first_position(tokens, phrases)) is not None]
    keys = [key for _, key in sorted(found)]
    if "due" in keys and "date" in keys:  # "due dates" is one field
        keys.remove("date")
    return keys


def derive(goal: str) -> dict[str, Any]:
    """A fresh app's spec from its goal."""
    goal = goal.strip()[:MAX_GOAL]
    tokens = words(goal)
    collection, named_by = collection_for(tokens)
    asked = _asked_fields([t for t in tokens if t not in named_by])
    keys: list[str] = []
    for key in (*collection.defaults, *asked):
        if key not in keys and len(keys) < MAX_FIELDS - 1:
            keys.append(key)
    main = {"name": "title", "type": "text", "label": collection.main_label, "required": True}
    return {"title": title_for(goal), "goal": goal, "changes": [],
            "collection": {"plural": collection.plural, "singular": collection.singular},
            "fields": [main, *(_field(key) for key in keys)], "search": True}


def apply_change(spec: dict[str, Any], request: str) -> tuple[dict[str, Any], list[str]]:
    """The spec with the change request applied, and notes on what was understood (empty:
    nothing the template understands; the spec then only logs the request). Each clause adds or removes the fields it names, turns search on or
    off, or renames the app; a clause without a verb of its own follows the one before it
    ("add tags and ratings")."""
    request = request.strip()[:MAX_CHANGE]
    new = json.loads(json.dumps(spec))  # a deep copy of plain JSON data
    done: list[str] = []
    removing = False
    for clause in (c.strip() for c in _CLAUSES.split(request) if c and c.strip()):
        tokens = words(clause)
        if any(has_phrase(tokens, w) for w in REMOVE_WORDS):
            removing = True
        elif any(has_phrase(tokens, w) for w in _ADD_VERBS):
            removing = False
        renamed = _RENAME.search(clause)
        if renamed and not removing:
            title = renamed.group("title").strip()
            if len(title) > 2 and title[0] + title[-1] in _QUOTES:
                title = title[1:-1].strip()
            new["title"] = title or new["title"]
            done.append(f"renamed to {new['title']}")
            continue
        if any(has_phrase(tokens, w) for w in SEARCH_WORDS) or "unsearchable" in tokens:
            changed = new.get("search", True) == removing
            new["search"] = not removing
            done.append(("search " if changed else "search already ")
                        + ("off" if removing else "on"))
        for key in _asked_fields(tokens):
            done += _remove(new, key) if removing else _add(new, key)
    new["changes"] = [*spec.get("changes", []), {"request": request, "notes": done}]
    new["changes"] = new["changes"][-MAX_CHANGES_KEPT:]
    return new, done


def _add(spec: dict[str, Any], key: str) -> list[str]:
    names = [f["name"] for f in spec["fields"]]
    if key in names:
        return [f"{FIELDS[key][1]} already there"]
    if len(names) >= MAX_FIELDS:
        return [f"not added {FIELDS[key][1]}: at most {MAX_FIELDS} fields"]
    spec["fields"].append(_field(key))
    return [f"added {FIELDS[key][1]}"]


def _remove(spec: dict[str, Any], key: str) -> list[str]:
    kept = [f for f in spec["fields"] if f["name"] != key or f.get("required")]
    if len(kept) == len(spec["fields"]):
        return [f"no {FIELDS[key][1]} to remove"]
    spec["fields"] = kept
    return [f"removed {FIELDS[key][1]}"]


def load(files: dict[str, str]) -> dict[str, Any]:
    """The spec of a version the template generator made (or, for one made before specs,
    derived again from its goal). ValueError when the version is not a template app."""
    if SPEC_FILE in files:
        try:
            spec = json.loads(files[SPEC_FILE])
        except ValueError as exc:
            raise ValueError(f"{SPEC_FILE} is not JSON") from exc
        check(spec)
        return spec
    if LEGACY_CONFIG in files:
        try:
            return derive(str(json.loads(files[LEGACY_CONFIG]).get("goal", "")))
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"{LEGACY_CONFIG} is not a JSON object") from exc
    raise ValueError(f"no {SPEC_FILE}: the version was not made by the template generator")


def check(spec: Any) -> None:
    """Raise ValueError unless `spec` has the shape the generated app relies on."""
    if not isinstance(spec, dict) or not isinstance(spec.get("title"), str):
        raise ValueError("the spec needs a title")
    fields = spec.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, dict) for f in fields):
        raise ValueError("the spec needs a list of fields")
    if fields[0].get("name") != "title":
        raise ValueError("the first field must be `title`")
    names = [f.get("name") for f in fields]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and _NAME.match(n)
                                                for n in names):
        raise ValueError("field names must be unique identifiers")
    if not all(f.get("type") in FIELD_TYPES for f in fields):
        raise ValueError(f"field types must be one of {', '.join(FIELD_TYPES)}")
    collection = spec.get("collection")
    if not isinstance(collection, dict) or not all(
            isinstance(collection.get(k), str) for k in ("plural", "singular")):
        raise ValueError("the spec needs a collection with plural and singular names")
