"""The video reader on the bundled clips and on bad files written with PyAV."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.samples import get_sample
from sslstudio.data.video import _presentation_times, decode_video_file, open_video_folder
from tests.video_files import grey_frames, write_audio_only, write_video


def frame_indices(clip: torch.Tensor) -> list[int]:
    """Return the source frame index that each frame of a T×3×S×S clip shows, read from its grey level."""
    return [round((float(frame.mean()) * 255 - 10) / 20) for frame in clip]


@pytest.fixture(scope="module")
def sample_clips():
    return get_sample("clips").open()


def test_sample_clip_count(sample_clips):
    assert len(sample_clips) == 125


def test_sample_batch_shape(sample_clips):
    assert sample_clips.batch([0, 5, 7]).shape == (3, 4, 3, 16, 16)


def test_sample_batch_dtype(sample_clips):
    assert sample_clips.batch([0]).dtype == torch.float32


def test_sample_batch_range(sample_clips):
    batch = sample_clips.batch(range(10))
    assert float(batch.min()) >= 0.0
    assert float(batch.max()) <= 1.0


def test_sample_labels_per_video(sample_clips):
    counts = sample_clips.metadata["video"].value_counts().to_dict()
    assert counts == {"bikes": 62, "bigbuckbunny": 33, "carphone_pristine": 30}


def test_sample_import_report_empty(sample_clips):
    assert len(sample_clips.report) == 0


def test_sample_frames_move(sample_clips):
    clip = sample_clips.batch([sample_clips.ids.index("bikes.mp4#c010")])[0]
    assert float((clip[1:] - clip[:-1]).abs().mean()) > 0.005


def test_ids_unique(sample_clips):
    assert len(set(sample_clips.ids)) == len(sample_clips.ids)


def test_clips_in_order(tmp_path):
    write_video(tmp_path / "ramp.mp4", grey_frames(8))
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=16)
    assert [frame_indices(dataset.batch([index])[0]) for index in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_frame_rate_resampling(tmp_path):
    write_video(tmp_path / "ramp.mp4", grey_frames(12), rate=10)
    dataset = open_video_folder(tmp_path, clip_length=3, image_size=16, frame_rate=5)
    assert frame_indices(dataset.batch([0])[0]) == [0, 2, 4]


def test_max_clips_spread(tmp_path):
    write_video(tmp_path / "ramp.mp4", grey_frames(12))
    dataset = open_video_folder(tmp_path, clip_length=2, image_size=16, max_clips_per_video=2)
    assert list(dataset.metadata["start_time"]) == [0.0, 1.0]


def test_rotated_video_upright(tmp_path):
    frames = np.zeros((4, 16, 32, 3), dtype=np.uint8)
    frames[:, :8, :16] = 255  # a white top-left quadrant in the stored (landscape) picture
    write_video(tmp_path / "phone.mp4", frames, rotation=90)
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=16)
    first = dataset.batch([0])[0, 0].mean(dim=0)
    # 90° counter-clockwise moves the top-left quadrant to the bottom left.
    assert float(first[8:, :8].mean()) > 0.9
    assert float(first[:8, :].mean()) < 0.1


def test_rotated_video_metadata(tmp_path):
    write_video(tmp_path / "phone.mp4", grey_frames(4, 16, 32), rotation=-90)
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=16)
    assert dataset.metadata.loc[0, "rotation"] == 270


def test_variable_frame_rate_by_time(tmp_path):
    write_video(tmp_path / "vfr.mp4", grey_frames(8), times_ms=[0, 100, 200, 250, 300, 600, 700, 800])
    dataset = open_video_folder(tmp_path, clip_length=8, image_size=16, frame_rate=10)
    # Each 100 ms tick takes the latest frame at or before it, so frame 3 (250 ms) is skipped
    # and frame 4 (300 ms) fills the gap until 600 ms.
    assert frame_indices(dataset.batch([0])[0]) == [0, 1, 2, 4, 4, 4, 5, 6]


def test_missing_timestamps_fall_back():
    issues = []
    times = _presentation_times([0, None, 2], 0.1, 25.0, issues)
    assert list(times) == [0.0, 0.04, 0.08]
    assert "decode order" in issues[0][0]


def test_repeated_timestamps_fall_back():
    issues = []
    times = _presentation_times([0, 0, 0], 0.1, 10.0, issues)
    assert list(times) == [0.0, 0.1, 0.2]


def test_truncated_mkv_keeps_frames(tmp_path):
    whole = write_video(tmp_path / "whole.mkv", grey_frames(30, 64, 64), codec="mpeg4").read_bytes()
    (tmp_path / "cut.mkv").write_bytes(whole[:len(whole) // 2])
    video = decode_video_file(tmp_path / "cut.mkv", 16, 1000)
    assert 2 <= len(video.frames) < 30
    assert any("truncated" in reason for reason, _, _ in video.issues)


def test_bad_files_reported(tmp_path):
    write_video(tmp_path / "good.mp4", grey_frames(8))
    whole = write_video(tmp_path / "cut.mp4", grey_frames(30, 64, 64)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "empty.mov").write_bytes(b"")
    write_audio_only(tmp_path / "sound.mp4")
    (tmp_path / "noise.avi").write_bytes(bytes(range(256)) * 8)
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=16)
    skipped = {issue.source: issue.reason for issue in dataset.report.skipped}
    assert set(skipped) == {"cut.mp4", "empty.mov", "sound.mp4", "noise.avi"}
    assert "0 bytes" in skipped["empty.mov"]
    assert "no video stream" in skipped["sound.mp4"]
    assert len(dataset) == 2


def test_short_video_reported(tmp_path):
    write_video(tmp_path / "good.mp4", grey_frames(8))
    write_video(tmp_path / "short.mp4", grey_frames(3))
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=16)
    assert [issue.source for issue in dataset.report.skipped] == ["short.mp4"]


def test_frame_folders(tmp_path):
    for name, count in [("cells_a", 6), ("cells_b", 4)]:
        folder = tmp_path / name
        folder.mkdir()
        for index, pixels in enumerate(grey_frames(count, 8, 8)):
            Image.fromarray(pixels).save(folder / f"frame_{index}.png")
    (tmp_path / "cells_a" / "frame_9.png").write_bytes(b"not a png")
    dataset = open_dataset(tmp_path, "video", clip_length=2, image_size=8)
    assert dataset.ids == ["cells_a#c000", "cells_a#c001", "cells_a#c002", "cells_b#c000", "cells_b#c001"]
    assert frame_indices(dataset.batch([2])[0]) == [4, 5]
    assert [issue.location for issue in dataset.report.repaired] == ["frame_9.png"]


def test_frame_folder_natural_order(tmp_path):
    for index, pixels in enumerate(grey_frames(11, 8, 8)):
        Image.fromarray(pixels).save(tmp_path / f"f{index}.png")
    dataset = open_video_folder(tmp_path, clip_length=11, image_size=8)
    assert frame_indices(dataset.batch([0])[0]) == list(range(11))


def test_nothing_usable_raises(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 1 videos"):
        open_video_folder(tmp_path)


def test_no_videos_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match="no video found"):
        open_video_folder(tmp_path)


def test_memory_budget_reported(tmp_path):
    write_video(tmp_path / "a.mp4", grey_frames(8))
    write_video(tmp_path / "b.mp4", grey_frames(8))
    dataset = open_video_folder(tmp_path, clip_length=4, image_size=256, max_memory_mb=2)
    assert [issue.source for issue in dataset.report.skipped] == ["b.mp4"]


def test_invalid_option_raises(tmp_path):
    write_video(tmp_path / "a.mp4", grey_frames(8))
    with pytest.raises(ValueError, match="clip_length"):
        open_video_folder(tmp_path, clip_length=1)


def test_auto_detection_picks_video(tmp_path):
    write_video(tmp_path / "a.mp4", grey_frames(8))
    assert open_dataset(tmp_path, clip_length=4, image_size=16).modality == "video"
