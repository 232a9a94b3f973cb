"""Video view: a clip as a strip of frames with a frame slider, and previews of the video tasks.

A preview whose target is a 1-D tensor (sequence ordering) labels every shown
frame with its true position. A preview whose target is one frame
(next-frame prediction) puts that frame beside the context strip.
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

STRIP_FRAME_SIZE = 72
LARGE_FRAME_SIZE = 256


def frame_image(frame: torch.Tensor) -> QImage:
    """Convert a 3×H×W frame in [0, 1] to an RGB QImage (a copy that owns its pixels)."""
    pixels = (frame.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _frame_label(frame: torch.Tensor, size: int, caption: str = "", highlight: bool = False) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 2)
    picture = QLabel()
    picture.setPixmap(QPixmap.fromImage(frame_image(frame)).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                                                   Qt.TransformationMode.FastTransformation))
    if highlight:
        picture.setStyleSheet("border: 2px solid #d08000;")
    layout.addWidget(picture, alignment=Qt.AlignmentFlag.AlignHCenter)
    if caption:
        text = QLabel(caption)
        text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(text)
    return box


class ClipStrip(QWidget):
    """One clip (T×3×S×S): the selected frame large, a slider over the frames, and every frame in a strip."""

    def __init__(self, clip: torch.Tensor, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.clip = clip
        layout = QVBoxLayout(self)
        if title:
            layout.addWidget(QLabel(title))
        self.frame_view = QLabel()
        self.frame_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.frame_view)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, len(clip) - 1)
        self.slider.valueChanged.connect(self.show_frame)
        self.position = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.slider, stretch=1)
        row.addWidget(self.position)
        layout.addLayout(row)
        strip = QHBoxLayout()
        for index, frame in enumerate(clip):
            strip.addWidget(_frame_label(frame, STRIP_FRAME_SIZE, str(index)))
        strip.addStretch(1)
        layout.addLayout(strip)
        self.show_frame(0)

    def show_frame(self, index: int) -> None:
        """Show frame ``index`` in the large view and update the position label."""
        pixmap = QPixmap.fromImage(frame_image(self.clip[index]))
        self.frame_view.setPixmap(pixmap.scaled(LARGE_FRAME_SIZE, LARGE_FRAME_SIZE,
                                                Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation))
        self.position.setText(f"frame {index + 1} / {len(self.clip)}")


def sample_widget(dataset, index: int, parent: QWidget | None = None) -> QWidget:
    """Return a clip strip with a frame slider for sample ``index``, titled with its id and start time."""
    clip = dataset.batch([index])[0]
    row = dataset.metadata.iloc[index]
    title = f"{dataset.ids[index]} — starts at {float(row.get('start_time', 0.0)):.2f} s"
    return ClipStrip(clip, title, parent)


def preview_widget(item, task, parent: QWidget | None = None) -> QWidget:
    """Return the task's input frames in a row, labelled with true positions or followed by the target frame."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    grid = QGridLayout()
    frames = item.input
    target = item.target
    labels_positions = isinstance(target, torch.Tensor) and target.dim() == 1 and len(target) == len(frames)
    for column, frame in enumerate(frames):
        caption = f"was {int(target[column]) + 1}" if labels_positions else f"t-{len(frames) - column}"
        grid.addWidget(_frame_label(frame, STRIP_FRAME_SIZE, caption), 0, column)
    if isinstance(target, torch.Tensor) and target.dim() == 3:
        grid.addWidget(QLabel("→"), 0, len(frames))
        grid.addWidget(_frame_label(target, STRIP_FRAME_SIZE, "true next", highlight=True), 0, len(frames) + 1)
    layout.addLayout(grid)
    layout.addWidget(QLabel(item.caption))
    return widget


def thumbnail(dataset, index: int, size: int) -> QImage | None:
    """Return the middle frame of clip ``index`` scaled to fit ``size`` × ``size``."""
    clip = dataset.batch([index])[0]
    image = frame_image(clip[len(clip) // 2])
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
