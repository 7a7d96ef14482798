"""Which characters untrusted one-line text (names, subjects) may keep: one definition for every wing (pure).

Unicode Cc (controls) and Cf (format characters) are refused or removed wherever a name or a subject is taken
in: Cf holds the bidi overrides and isolates (U+202A..U+202E, U+2066..U+2069) and marks (U+200E, U+200F) that
make ``Amira<U+202E> moc.evil//:sptth`` display reversed, the zero-width space U+200B, the BOM, the soft hyphen
and the tag characters. Zero-width non-joiner and joiner (U+200C, U+200D) stay: Persian, Indic scripts and
emoji sequences need them, and they reorder nothing.
"""

from __future__ import annotations

import unicodedata

__all__ = ["has_hidden_characters", "is_hidden_character", "strip_hidden_characters"]

_KEPT = frozenset("\u200c\u200d")


def is_hidden_character(char: str) -> bool:
    """True for a control or format character (Unicode Cc, Cf) other than ZWNJ and ZWJ."""
    return unicodedata.category(char) in ("Cc", "Cf") and char not in _KEPT


def has_hidden_characters(value: str) -> bool:
    return any(is_hidden_character(char) for char in value)


def strip_hidden_characters(value: str) -> str:
    return "".join(char for char in value if not is_hidden_character(char))
