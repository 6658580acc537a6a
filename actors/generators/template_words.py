"""The template generator's vocabulary: which words name a collection, which name a field.

Matching is on whole words (`date` never matches "update", `rate` never "separate"), so a goal
is read as words and nothing else. The tables are data: extending the generator's reach is
adding a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Collection:
    plural: str
    singular: str
    main_label: str  # the label of the always-present `title` field
    defaults: tuple[str, ...] = ()  # field keys (FIELDS) every such collection starts with


# Stems (singular and plural forms are both listed) -> the collection they name. Checked in
# order: the first collection word that appears in the goal wins.
COLLECTIONS: tuple[tuple[tuple[str, ...], Collection], ...] = (
    (("recipe", "recipes", "cookbook", "dish", "dishes", "meal", "meals"),
     Collection("recipes", "recipe", "Name", ("ingredients",))),
    (("book", "books", "novel", "novels", "reading"),
     Collection("books", "book", "Title", ("author",))),
    (("workout", "workouts", "exercise", "exercises", "training"),
     Collection("workouts", "workout", "Workout")),
    (("todo", "todos", "to-do", "to-dos", "task", "tasks", "chore", "chores", "checklist",
      "assignment", "assignments", "homework"),
     Collection("tasks", "task", "Task", ("done",))),
    (("grocery", "groceries", "shopping", "pantry"),
     Collection("items", "item", "Item", ("quantity", "done"))),
    (("expense", "expenses", "spending", "budget", "purchase", "purchases", "invoice",
      "invoices"),
     Collection("expenses", "expense", "Description", ("amount", "date"))),
    (("contact", "contacts", "client", "clients", "customer", "customers", "friend",
      "friends", "people", "person", "member", "members"),
     Collection("contacts", "contact", "Name", ("email", "phone"))),
    (("note", "notes", "journal", "diary", "entry", "entries"),
     Collection("notes", "note", "Title", ("body",))),
    (("movie", "movies", "film", "films", "series"),
     Collection("movies", "movie", "Title")),
    (("song", "songs", "album", "albums", "music", "playlist"),
     Collection("songs", "song", "Title", ("artist",))),
    (("bookmark", "bookmarks", "link", "links", "website", "websites"),
     Collection("bookmarks", "bookmark", "Title", ("url",))),
    (("event", "events", "appointment", "appointments", "meeting", "meetings"),
     Collection("events", "event", "Event", ("date",))),
    (("habit", "habits"), Collection("habits", "habit", "Habit", ("done",))),
    (("idea", "ideas"), Collection("ideas", "idea", "Idea")),
    (("plant", "plants", "garden"), Collection("plants", "plant", "Name")),
    (("game", "games"), Collection("games", "game", "Title")),
    (("restaurant", "restaurants", "cafe", "cafes"),
     Collection("restaurants", "restaurant", "Name", ("location",))),
    (("trip", "trips", "travel", "journey", "journeys"),
     Collection("trips", "trip", "Destination", ("date",))),
    (("bug", "bugs", "issue", "issues", "ticket", "tickets"),
     Collection("issues", "issue", "Title", ("done",))),
    (("product", "products", "inventory", "stock"),
     Collection("products", "product", "Name", ("quantity",))),
    (("project", "projects"), Collection("projects", "project", "Name")),
    (("goal", "goals"), Collection("goals", "goal", "Goal", ("done",))),
)

DEFAULT_COLLECTION = Collection("items", "item", "Title")

# Field key -> (type, label). `title` (text, required) is always the first field.
FIELDS: dict[str, tuple[str, str]] = {
    "done": ("bool", "Done"),
    "due": ("date", "Due date"),
    "date": ("date", "Date"),
    "tags": ("tags", "Tags"),
    "rating": ("rating", "Rating"),
    "notes": ("longtext", "Notes"),
    "body": ("longtext", "Text"),
    "ingredients": ("longtext", "Ingredients"),
    "author": ("text", "Author"),
    "artist": ("text", "Artist"),
    "category": ("text", "Category"),
    "location": ("text", "Location"),
    "url": ("text", "Link"),
    "email": ("text", "Email"),
    "phone": ("text", "Phone"),
    "amount": ("number", "Amount"),
    "quantity": ("number", "Quantity"),
    "calories": ("number", "Calories"),
    "minutes": ("number", "Minutes"),
    "distance": ("number", "Distance"),
    "weight": ("number", "Weight"),
    "reps": ("number", "Reps"),
    "priority": ("number", "Priority"),
}
FIELD_TYPES = ("text", "longtext", "number", "rating", "date", "bool", "tags")

# Words (or phrases of words) that ask for a field.
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "done": ("done", "completed", "completion", "tick", "check off", "checked", "finished"),
    "due": ("due", "deadline", "deadlines"),
    "date": ("date", "dates", "dated", "schedule", "scheduled", "calendar"),
    "tags": ("tag", "tags", "tagged", "tagging", "label", "labels", "labelled", "labeled"),
    "rating": ("rating", "ratings", "rate", "rated", "stars", "star", "score", "scores"),
    "notes": ("note", "notes", "description", "descriptions", "comment", "comments",
              "details"),
    "ingredients": ("ingredient", "ingredients"),
    "author": ("author", "authors", "writer", "writers"),
    "artist": ("artist", "artists", "band", "bands", "singer"),
    "category": ("category", "categories", "genre", "genres"),
    "location": ("location", "locations"),
    "url": ("url", "urls"),
    "email": ("email", "emails", "e-mail"),
    "phone": ("phone", "phones", "telephone"),
    "amount": ("amount", "amounts", "price", "prices", "cost", "costs", "spent"),
    "quantity": ("quantity", "quantities", "qty", "how many"),
    "calories": ("calorie", "calories", "kcal"),
    "minutes": ("duration", "durations", "minutes"),
    "distance": ("distance", "distances", "km", "miles"),
    "weight": ("weight", "weights", "kg", "lbs"),
    "reps": ("reps", "repetitions", "sets"),
    "priority": ("priority", "priorities"),
}
SEARCH_WORDS = ("search", "searchable", "searching", "filter", "filtering", "find", "lookup",
                "look up")
REMOVE_WORDS = ("remove", "drop", "delete", "without", "no", "hide", "get rid",
                "stop tracking", "don't need", "do not need", "no longer", "unsearchable")
# A goal's collection word is often the word before one of these ("plant tracker").
_HEADS = ("tracker", "tracking", "list", "log", "logger", "box", "catalog", "catalogue",
          "collection", "journal", "manager", "organizer", "organiser", "planner", "library",
          "database", "keeper", "inventory")
_NOT_NOUNS = frozenset((
    "a", "an", "the", "my", "our", "your", "their", "app", "application", "simple", "small",
    "tiny", "little", "basic", "quick", "web", "site", "page", "tool", "personal", "daily",
    "weekly", "all", "some", "any", "and", "or", "of", "for", "with", "to", "that", "which",
    "where", "me", "us", "i", "it", "this", "new", "good", "nice", "easy", "shared", "family",
    "team"))
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def has_phrase(tokens: list[str], phrase: str) -> bool:
    """Whole-word match of a word or a phrase of words."""
    parts = phrase.split()
    n = len(parts)
    return any(tokens[i:i + n] == parts for i in range(len(tokens) - n + 1))


def first_position(tokens: list[str], phrases: tuple[str, ...]) -> int | None:
    found = [i for phrase in phrases for i in range(len(tokens))
             if tokens[i:i + len(phrase.split())] == phrase.split()]
    return min(found) if found else None


def collection_for(tokens: list[str]) -> tuple[Collection, tuple[str, ...]]:
    """The collection the words name, and the words that named it (a collection of notes is
    not asked for a notes field by its own name)."""
    for stems, collection in COLLECTIONS:
        if any(has_phrase(tokens, stem) for stem in stems):
            return collection, stems
    for i, token in enumerate(tokens):  # "a plant tracker", "a list of my vinyl records"
        if token not in _HEADS:
            continue
        after = ""
        if tokens[i + 1:i + 2] == ["of"]:
            rest = tokens[i + 2:]
            while rest and rest[0] in _NOT_NOUNS:  # "of my ..."
                rest = rest[1:]
            for word in rest[:4]:  # the last noun of the phrase ("vinyl records")
                if not _noun(word):
                    break
                after = word
        before = tokens[i - 1] if i else ""
        for word in (after, before):
            if _noun(word):
                return _named(word), (word,)
    return DEFAULT_COLLECTION, ()


def _noun(word: str) -> bool:
    return word.isalpha() and 3 <= len(word) <= 20 and word not in _NOT_NOUNS \
        and word not in _HEADS


def _named(word: str) -> Collection:
    if word.endswith("ies"):
        singular, plural = word[:-3] + "y", word
    elif word.endswith(("ches", "shes", "xes", "sses")):
        singular, plural = word[:-2], word
    elif word.endswith("s") and not word.endswith("ss"):
        singular, plural = word[:-1], word
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        singular, plural = word, word[:-1] + "ies"
    else:
        singular, plural = word, word + "s"
    return Collection(plural, singular, "Title")
