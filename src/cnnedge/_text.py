"""Words and orders as people read them: "1 digit" and "2 digits", img_2 before img_10."""

from __future__ import annotations

import re
from pathlib import Path, PurePath

__all__ = ["is_hidden", "natural_key", "plural"]

_DIGITS = re.compile(r"(\d+)")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` in the right number: "1 digit", "2 digits", "0 digits".

    ``many`` is the plural when it is not ``word + "s"``.
    """
    return f"{count} {word if count == 1 else many or word + 's'}"


def natural_key(text: str | PurePath) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the numbers inside names by value (img_2 before img_10), as
    file managers do; the rest compares case-insensitively, then exactly."""
    parts = _DIGITS.split(str(text))
    key = tuple((0, int(p)) if p.isdigit() else (1, p.casefold()) for p in parts if p)
    # Names equal but for case or leading zeros keep a fixed order.
    return (*key, (2, str(text)))


def is_hidden(path: Path, root: Path) -> bool:
    """Whether ``path`` or a folder between ``root`` and it is hidden (its name starts
    with a dot, as ``.git`` or macOS's ``._photo.png`` do)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    return any(part.startswith(".") and part not in (".", "..") for part in parts)
