"""Names inside translated sentences: the punctuation and elision a name calls for, fixed before it is filled in.

A translation is written once for every name, so two faults come from the names, not from the translators:

- a sentence that ends with a name ending in a full stop gets a second one ("join Acme Inc.."). When a name
  that already ends in ``.``, ``!``, ``?`` or ``…`` is followed by the message's own full stop (directly, or
  after closing markup such as ``</bdi>``), that full stop is dropped;
- French elides "de" and "que" before a vowel ("au nom d’Acme", not "de Acme"). Before a name that starts with a
  vowel, or with a "y" that is not followed by a vowel, ``de``/``que`` written before the placeholder become
  ``d’``/``qu’``. Names starting with "h" keep "de": a mute h ("d’Hermès") cannot be told from an aspirated one
  ("de Hachette") by its letters, and "de" before a name is the accepted reading of the latter.

The rules are written for translators in ``locales/README.md``. Pure: plain calls, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

__all__ = ["fit_names"]

_PLACEHOLDER = r"%\((?P<key>[A-Za-z_][A-Za-z0-9_]*)\)s"
# The message's full stop after a placeholder, past closing tags and isolates (PDI) written around it.
_STOP_AFTER = re.compile(_PLACEHOLDER + r"(?P<close>(?:</[A-Za-z]+>|\u2069)*)\.")
# French "de"/"que" before a placeholder, past opening tags and isolates written around it.
_ELIDABLE_FR = re.compile(r"(?<![\w’'])(?P<word>[Dd]e|[Qq]ue) (?P<open>(?:<[A-Za-z]+[^<>]*>|\u2068)*)" + _PLACEHOLDER)

_TAGS = re.compile(r"<[^<>]*>")
_INVISIBLE = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_QUOTES = "\"'«»“”„‘’‹›"
_TERMINAL = (".", "!", "?", "…")
_VOWELS = frozenset("aeiou")


def _plain(value: object) -> str:
    """The text a reader sees of ``value``: markup (for values that are HTML already) and direction marks gone."""
    text = str(value)
    if hasattr(value, "__html__"):
        text = _TAGS.sub("", text)
    return text.strip().strip(_INVISIBLE).strip()


def _base_letter(char: str) -> str:
    return unicodedata.normalize("NFD", char)[:1].lower()


def _starts_with_vowel_sound(name: str) -> bool:
    """By its letters: a vowel (accents aside), or a "y" before a consonant ("Yves", not "Yahoo")."""
    letters = name.lstrip(_QUOTES + " \u00a0\u202f")
    if not letters:
        return False
    first = _base_letter(letters[0])
    if first in _VOWELS:
        return True
    return first == "y" and len(letters) > 1 and letters[1].isalpha() and _base_letter(letters[1]) not in _VOWELS


def fit_names(message: str, variables: Mapping[str, object], locale: str | None) -> str:
    """``message`` (a translated msgstr with ``%(key)s`` placeholders) adjusted to the names in ``variables``.

    Only the message's own text changes (a full stop after a name, a French "de" before one); the values are
    filled in afterwards by the caller, escaped as usual.
    """
    if "%(" not in message or not variables:
        return message

    def drop_stop(match: re.Match[str]) -> str:
        value = variables.get(match["key"])
        if value is not None and _plain(value).endswith(_TERMINAL):
            return match[0][:-1]
        return match[0]

    text = _STOP_AFTER.sub(drop_stop, message)
    if locale and re.split(r"[-_]", locale, maxsplit=1)[0].lower() == "fr":

        def elide(match: re.Match[str]) -> str:
            value = variables.get(match["key"])
            if value is None or not _starts_with_vowel_sound(_plain(value)):
                return match[0]
            word = match["word"]
            return f"{word[:-1]}’{match['open']}%({match['key']})s"

        text = _ELIDABLE_FR.sub(elide, text)
    return text
