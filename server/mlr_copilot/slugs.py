"""Names safe for folders and git branches, made from titles."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str, limit: int = 60, fallback: str = "untitled") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or (words[0][:limit] if words else fallback)
