"""The video view offscreen: clip strip with slider, task previews and the thumbnail."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QLabel, QSlider

from sslstudio.data.video import open_video_folder
from sslstudio.gui.views import view_for
from sslstudio.tasks.registry import create_task
from tests.video_files import grey_frames, write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "ramp.mp4", grey_frames(8))
    return open_video_folder(folder, clip_length=4, image_size=16)


def label_texts(widget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.text()]


def test_slider_moves_frame(qtbot, clips):
    widget = view_for("video").sample_widget(clips, 1)
    qtbot.addWidget(widget)
    slider = widget.findChild(QSlider)
    slider.setValue(3)
    assert slider.maximum() == 3
    assert widget.position.text() == "frame 4 / 4"


def test_slider_shows_selected_frame(qtbot, clips):
    widget = view_for("video").sample_widget(clips, 1)
    qtbot.addWidget(widget)
    widget.slider.setValue(2)
    shown = widget.frame_view.pixmap().toImage()
    grey = shown.pixelColor(shown.width() // 2, shown.height() // 2).red()
    # Clip 1 contains source frames 4 to 7, so its third frame is frame 6 (grey level about 130).
    assert abs(grey - 130) < 8


def test_order_preview_positions(qtbot, clips):
    task = create_task("video.order", clips.spec, {"segments": 4})
    item = task.preview(clips.batch([0, 1]), torch.Generator().manual_seed(1))[0]
    widget = view_for("video").preview_widget(item, task)
    qtbot.addWidget(widget)
    positions = sorted(text for text in label_texts(widget) if text.startswith("was "))
    assert positions == ["was 1", "was 2", "was 3", "was 4"]


def test_next_frame_preview_has_target(qtbot, clips):
    task = create_task("video.next_frame", clips.spec, {"context": 3})
    item = task.preview(clips.batch([0]), torch.Generator().manual_seed(0))[0]
    widget = view_for("video").preview_widget(item, task)
    qtbot.addWidget(widget)
    assert "true next" in label_texts(widget)


def test_thumbnail_is_middle_frame(qtbot, clips):
    image = view_for("video").thumbnail(clips, 0, 32)
    grey = image.pixelColor(16, 16).red()
    # Clip 0 contains frames 0 to 3; the middle one (index 2) has grey level about 50.
    assert abs(grey - 50) < 8
