"""Image views: thumbnails, a sample view and task previews (input beside target)."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget


def tensor_to_qimage(image: torch.Tensor) -> QImage:
    """Convert a C×H×W tensor in [0, 1] (C = 1 or 3) to an RGB ``QImage`` that owns its pixels."""
    array = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0)
    array = np.ascontiguousarray(array[:3].transpose(1, 2, 0))
    height, width, _ = array.shape
    return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _image_label(image: torch.Tensor, size: int) -> QLabel:
    label = QLabel()
    pixmap = QPixmap.fromImage(tensor_to_qimage(image)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    label.setPixmap(pixmap)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def thumbnail(dataset, index: int, size: int) -> QImage:
    """Return sample ``index`` scaled to ``size`` pixels (nearest neighbour keeps small digits crisp)."""
    image = tensor_to_qimage(dataset.batch([index])[0])
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


def sample_widget(dataset, index: int, parent: QWidget | None = None) -> QWidget:
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    layout.addWidget(_image_label(dataset.batch([index])[0], 256))
    caption = QLabel(dataset.ids[index])
    caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(caption)
    return widget


def _is_image(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 3 and value.shape[0] in (1, 3)


def preview_widget(item, task=None, parent: QWidget | None = None, size: int = 96) -> QWidget:
    """Show the task input, and the target when it is an image, above the caption."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(4, 4, 4, 4)
    row = QHBoxLayout()
    if _is_image(item.input):
        row.addWidget(_image_label(item.input, size))
    if _is_image(item.target):
        row.addWidget(_image_label(item.target, size))
    layout.addLayout(row)
    caption = QLabel(item.caption)
    caption.setWordWrap(True)
    caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(caption)
    return widget
