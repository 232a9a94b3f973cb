"""The text views offscreen: the document reader and previews of every text task."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QTextBrowser

from sslstudio.data.text import open_text
from sslstudio.gui.views import view_for
from sslstudio.gui.views.text import ROLE_STYLES
from sslstudio.tasks.registry import create_task, list_tasks
from tests.text_corpus import write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return open_text(write_corpus(tmp_path_factory.mktemp("corpus"), copies=1), vocab_size=200, max_length=40)


def test_sample_widget_shows_document(qtbot, corpus):
    widget = view_for("text").sample_widget(corpus, 0)
    qtbot.addWidget(widget)
    assert corpus.texts[0].split()[0] in widget.toPlainText()
    assert "folder: bad" in widget.toPlainText()


def test_thumbnail_is_none(corpus):
    assert view_for("text").thumbnail(corpus, 0, 64) is None


@pytest.mark.parametrize("cls", list_tasks("text"), ids=lambda cls: cls.name)
def test_preview_widget_highlights_targets(qtbot, cls, corpus):
    task = create_task(cls.name, corpus.spec)
    item = task.preview(corpus.batch([0]), torch.Generator().manual_seed(0))[0]
    widget = view_for("text").preview_widget(item, task)
    qtbot.addWidget(widget)
    browser = widget.findChild(QTextBrowser, "previewText")
    roles = {span.role for span in item.input + item.target if span.role}
    assert task.title in widget.findChild(type(widget.layout().itemAt(0).widget()), "previewCaption").text()
    assert roles
    for role in roles:
        assert ROLE_STYLES[role].split(";")[0].split(":")[1] in browser.toHtml()
