"""Text views: a document reader and task previews with the targets highlighted.

Previews of text tasks carry lists of ``Span`` (text plus a role); each role
gets its own colour, so masked words, their original tokens, restored punctuation, split
points and missing-word positions stand out.
"""

from __future__ import annotations

import html

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

# Background and text colours per span role (readable on light and dark palettes).
ROLE_STYLES = {
    "mask": "background:#455a64;color:#ffffff",
    "answer": "background:#c8e6c9;color:#1b5e20;font-weight:bold",
    "inserted": "background:#bbdefb;color:#0d47a1;font-weight:bold",
    "split": "background:#ffe0b2;color:#e65100;font-weight:bold",
    "missing": "background:#ffcdd2;color:#b71c1c;font-weight:bold",
}


def spans_to_html(spans) -> str:
    """Return HTML for a list of spans (or a plain string): text escaped, roles styled, blank lines kept."""
    if isinstance(spans, str):
        return html.escape(spans).replace("\n", "<br>")
    parts = []
    for span in spans:
        text = html.escape(span.text).replace("\n", "<br>")
        style = ROLE_STYLES.get(span.role)
        parts.append(f'<span style="{style}">{text}</span>' if style else text)
    return "".join(parts)


def _browser(body: str, parent: QWidget | None) -> QTextBrowser:
    browser = QTextBrowser(parent)
    browser.setOpenLinks(False)
    browser.setHtml(body)
    return browser


def sample_widget(dataset, index: int, parent: QWidget | None = None) -> QWidget:
    """Return a read-only view of document ``index``: its metadata, then its text."""
    row = dataset.metadata.iloc[index]
    details = " · ".join(f"<b>{html.escape(str(key))}</b>: {html.escape(str(value))}"
                         for key, value in row.items() if key != "path")
    length = int(dataset.lengths[index])
    body = (f"<p style='color:gray'>{details} · <b>tokens</b>: {length}/{dataset.max_length}</p>"
            f"<p>{spans_to_html(dataset.texts[index])}</p>")
    browser = _browser(body, parent)
    browser.setObjectName("textDocument")
    return browser


def preview_widget(item, task, parent: QWidget | None = None) -> QWidget:
    """Return a widget with the task's input text, the target text and the caption, highlights included."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(4, 4, 4, 4)
    caption = QLabel(f"<b>{html.escape(task.title)}</b> — {html.escape(item.caption)}", widget)
    caption.setObjectName("previewCaption")
    layout.addWidget(caption)
    body = (f"<p><i>Input</i><br>{spans_to_html(item.input)}</p>"
            f"<p><i>Target</i><br>{spans_to_html(item.target)}</p>")
    browser = _browser(body, widget)
    browser.setObjectName("previewText")
    layout.addWidget(browser)
    return widget


def thumbnail(dataset, index: int, size: int) -> QImage | None:
    """Return None: documents have no picture; lists show their text instead."""
    return None
