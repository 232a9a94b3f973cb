"""A small English corpus written to disk for the text tests."""

from __future__ import annotations

from pathlib import Path

DOCUMENTS = [
    "The film is fine, but slow. Is it good? Yes! It's long.\n\nA new paragraph: here; there. The end.",
    "Another one. The film was dull, slow and long!",
    "A warm, funny story about a family. The cast is great; the script is sharp.",
    "Too long by half. The plot drags, the jokes fall flat, and the ending is a mess.",
    "Why watch it? The music. The actors try hard, but the story goes nowhere.\n\nSkip it.",
    "A quiet, moving drama. It stays with you long after the credits.",
]


def write_corpus(folder: Path, copies: int = 4) -> Path:
    """Write each document ``copies`` times as ``<folder>/<good|bad>/doc_<n>.txt``; return ``folder``."""
    for copy in range(copies):
        for number, text in enumerate(DOCUMENTS):
            label = "good" if number % 2 == 0 else "bad"
            path = folder / label / f"doc_{copy}_{number}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return folder
