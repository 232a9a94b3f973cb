"""The class list editor: add, rename, merge, delete (with confirmation), color and shortcut key 1–9."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QGridLayout, QInputDialog, QListWidget, QListWidgetItem, QMessageBox,
                               QPushButton, QVBoxLayout, QWidget)

from sslstudio.gui.errors import show_error
from sslstudio.project.store import SHORTCUT_KEYS, Project

logger = logging.getLogger(__name__)

NO_KEY = "none"


def color_icon(color: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ClassEditor(QWidget):
    """Edits the class list of a project; ``changed(kind)`` follows every stored change.

    ``kind`` is ``added``, ``renamed``, ``merged``, ``deleted``, ``color`` or
    ``shortcut``. Each action opens a dialog unless its value is passed as an
    argument, so tests and other widgets can call it without a dialog.
    """

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        buttons = QGridLayout()
        actions = [("Add…", self.add), ("Rename…", self.rename), ("Merge into…", self.merge),
                   ("Delete…", self.delete), ("Color…", self.choose_color), ("Key…", self.choose_key)]
        self.buttons: dict[str, QPushButton] = {}
        for position, (text, slot) in enumerate(actions):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, slot=slot: slot())
            buttons.addWidget(button, position // 3, position % 3)
            self.buttons[text] = button
        layout.addLayout(buttons)

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        current = self.selected_name()
        self.list.clear()
        for entry in self.project.classes() if self.project else []:
            key = f"  [{entry['shortcut']}]" if entry["shortcut"] else ""
            item = QListWidgetItem(color_icon(entry["color"]), f"{entry['name']}{key}")
            item.setData(Qt.ItemDataRole.UserRole, entry["name"])
            self.list.addItem(item)
            if entry["name"] == current:
                self.list.setCurrentItem(item)

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)

    def _apply(self, kind: str, action) -> bool:
        """Run a store call; show its error to the user instead of raising."""
        try:
            action()
        except (KeyError, ValueError) as error:
            message = error.args[0] if isinstance(error, KeyError) else str(error)
            show_error(self, "Class list not changed", message)
            return False
        self.refresh()
        self.changed.emit(kind)
        return True

    def add(self, name: str | None = None) -> bool:
        if self.project is None:
            return False
        if name is None:
            name, accepted = QInputDialog.getText(self, "Add class", "Class name:")
            if not accepted:
                return False
        added = self._apply("added", lambda: self.project.add_class(name))
        if added:
            self.select(name.strip())
        return added

    def rename(self, new_name: str | None = None) -> bool:
        name = self.selected_name()
        if self.project is None or name is None:
            return False
        if new_name is None:
            new_name, accepted = QInputDialog.getText(self, "Rename class", f"New name for {name}:", text=name)
            if not accepted:
                return False
        return self._apply("renamed", lambda: self.project.rename_class(name, new_name))

    def merge(self, target: str | None = None) -> bool:
        name = self.selected_name()
        if self.project is None or name is None:
            return False
        if target is None:
            others = [entry["name"] for entry in self.project.classes() if entry["name"] != name]
            if not others:
                show_error(self, "Nothing to merge into", "Add another class first.")
                return False
            target, accepted = QInputDialog.getItem(self, "Merge class", f"Move every label of {name} to:",
                                                    others, 0, False)
            if not accepted:
                return False
        return self._apply("merged", lambda: self.project.merge_classes(name, target))

    def delete(self, confirmed: bool = False) -> bool:
        name = self.selected_name()
        if self.project is None or name is None:
            return False
        if not confirmed:
            count = sum(self.project.label_counts(source["id"]).get(name, 0) for source in self.project.sources())
            answer = QMessageBox.question(self, "Delete class",
                                          f"Delete class {name} and its {count} labels? This cannot be undone.")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return self._apply("deleted", lambda: self.project.delete_class(name))

    def choose_color(self, color: str | None = None) -> bool:
        name = self.selected_name()
        if self.project is None or name is None:
            return False
        if color is None:
            current = next(entry["color"] for entry in self.project.classes() if entry["name"] == name)
            chosen = QColorDialog.getColor(QColor(current), self, f"Color of {name}")
            if not chosen.isValid():
                return False
            color = chosen.name()
        return self._apply("color", lambda: self.project.set_class_color(name, color))

    def choose_key(self, key: str | None = None) -> bool:
        """Give the selected class a key 1–9, or ``NO_KEY`` to remove its key."""
        name = self.selected_name()
        if self.project is None or name is None:
            return False
        if key is None:
            key, accepted = QInputDialog.getItem(self, "Shortcut key", f"Key that labels a sample as {name}:",
                                                 [*SHORTCUT_KEYS, NO_KEY], 0, False)
            if not accepted:
                return False
        return self._apply("shortcut", lambda: self.project.set_class_shortcut(name, None if key == NO_KEY else key))
