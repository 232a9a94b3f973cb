"""Video: MP4, AVI, MOV and MKV files decoded with PyAV, and folders of frame images.

A sample is a clip of ``clip_length`` frames (T×3×S×S). Each video is decoded
once when the dataset is opened: frames are put upright from the display
matrix, ordered by presentation time, resampled to ``frame_rate`` and resized
to S×S. The clips stay in memory as uint8, so training reads tensors and
does not decode. A memory budget (``max_memory_mb``) bounds that cache, and videos
beyond it go to the import report. Each video yields up to
``max_clips_per_video`` non-overlapping clips with ids like ``walk.mp4#c002``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pandas as pd
import torch
from PIL import Image

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.image import decode_image, is_image_file
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm"})
# Used when a stream declares no frame rate, and as the default rate of a folder of frame images.
FALLBACK_FRAME_RATE = 25.0


@dataclass
class DecodedVideo:
    """The frames of one video, upright and resized: F×3×S×S uint8 with their times in seconds."""

    frames: np.ndarray
    times: np.ndarray
    native_rate: float
    rotation: int = 0
    issues: list[tuple[str, str, str]] = field(default_factory=list)  # (reason, action, location)


def is_video_file(path: Path) -> bool:
    """Return whether ``path`` has a video suffix (hidden and ``._*`` files excluded)."""
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def _natural_key(path: Path) -> list:
    """Sort key that puts ``frame_2.png`` before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def find_videos(root: Path) -> list[Path]:
    """Return the videos below ``root`` in sorted order: video files and folders that directly contain images.

    Hidden files and folders are skipped. A folder counts as one video made of
    its image files (in natural order) when it contains at least one image.
    """
    if root.is_file():
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file() and is_video_file(path):
            found.append(path)
        elif path.is_dir() and any(is_image_file(child) for child in path.iterdir() if child.is_file()):
            found.append(path)
    if any(is_image_file(child) for child in root.iterdir() if child.is_file()):
        found.insert(0, root)
    return found


def _accepts(path: Path) -> bool:
    # Folders of frame images are also images, so auto-detection leaves them to the image reader;
    # open them with modality "video".
    if path.is_file():
        return is_video_file(path)
    return path.is_dir() and any(is_video_file(child) for child in path.rglob("*"))


def _display_transform(frame: av.VideoFrame) -> tuple[int, bool]:
    """Return the counter-clockwise quarter turns and the mirror flag of a frame's display matrix."""
    rotation = int(round(frame.rotation / 90.0)) % 4 if frame.rotation else 0
    mirrored = False
    for item in frame.side_data:
        if str(item.type).endswith("DISPLAYMATRIX"):
            matrix = np.frombuffer(bytes(item), dtype="<i4")
            # A negative determinant of the 2×2 part means the matrix also mirrors the picture.
            mirrored = float(matrix[0]) * float(matrix[4]) - float(matrix[1]) * float(matrix[3]) < 0
    return rotation, mirrored


def _upright(pixels: np.ndarray, quarter_turns: int, mirrored: bool) -> np.ndarray:
    """Apply the display transform to H×W×3 pixels: rotate counter-clockwise, then mirror left-right."""
    if quarter_turns:
        pixels = np.rot90(pixels, k=quarter_turns)
    if mirrored:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def decode_video_file(path: Path, size: int, max_frames: int) -> DecodedVideo:
    """Decode every frame of a video file (up to ``max_frames``) to upright S×S RGB.

    Frames are ordered by presentation timestamp. When a timestamp is missing
    or repeated, the decode order is used with the stream's nominal rate. A
    decode error after some frames, or frames ending well before the declared
    duration, keeps the frames and notes the truncation.

    Raises:
        ValueError: for an empty file, a file without a video stream or no decodable frame.
        av.FFmpegError, OSError: if FFmpeg cannot open the file at all.
    """
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    issues: list[tuple[str, str, str]] = []
    frames, stamps = [], []
    with av.open(str(path)) as container:
        if not container.streams.video:
            kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
            raise ValueError(f"no video stream (streams found: {kinds})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0) or FALLBACK_FRAME_RATE
        time_base = float(stream.time_base) if stream.time_base else 0.0
        declared = _declared_seconds(container, stream)
        transform = (0, False)
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index == 0:
                    transform = _display_transform(frame)
                if index >= max_frames:
                    issues.append((f"longer than max_frames_per_video={max_frames}; the rest is ignored",
                                   "warning", f"frame {index}"))
                    break
                small = frame.reformat(width=size, height=size, format="rgb24").to_ndarray()
                frames.append(_upright(small, *transform))
                stamps.append(frame.pts)
        except (av.FFmpegError, OSError) as error:
            if not frames:
                raise
            issues.append((f"truncated or corrupt: decoding stopped with {error}; kept {len(frames)} frames",
                           "repaired", f"frame {len(frames)}"))
    if not frames:
        raise ValueError("no frame of the video stream could be decoded")
    times = _presentation_times(stamps, time_base, rate, issues)
    covered = float(times.max()) + 1.0 / rate
    if len(frames) < max_frames and declared - covered > max(2.0 / rate, 0.05 * declared):
        issues.append((f"truncated: frames end at {covered:.2f} s but the file declares {declared:.2f} s; "
                       f"kept {len(frames)} frames", "repaired", f"{covered:.2f} s"))
    order = np.argsort(times, kind="stable")
    if np.any(order != np.arange(len(order))):
        issues.append(("frames were out of presentation order; reordered by timestamp", "repaired", ""))
    quarter_turns, mirrored = transform
    if quarter_turns or mirrored:
        issues.append((f"display matrix applied ({quarter_turns * 90}° counter-clockwise"
                       f"{', mirrored' if mirrored else ''})", "repaired", ""))
    return DecodedVideo(np.stack(frames)[order], times[order], rate, quarter_turns * 90, issues)


def _declared_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """Return the duration the file's header declares, in seconds (0 when it declares none)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _presentation_times(stamps: list[int | None], time_base: float, rate: float,
                        issues: list[tuple[str, str, str]]) -> np.ndarray:
    """Return frame times in seconds from the first frame.

    When a timestamp is missing or repeated, the times cannot order the frames,
    so the decode order at the nominal ``rate`` is used instead.
    """
    if any(stamp is None for stamp in stamps) or time_base <= 0 or len(set(stamps)) < len(stamps):
        issues.append((f"missing or repeated timestamps; frames kept in decode order at {rate:g} fps",
                       "repaired", ""))
        return np.arange(len(stamps), dtype=np.float64) / rate
    times = np.asarray(stamps, dtype=np.float64) * time_base
    return times - times.min()


def decode_frame_folder(folder: Path, size: int, rate: float) -> DecodedVideo:
    """Decode a folder of frame images (natural file-name order) to S×S RGB at ``rate`` frames per second.

    Unreadable images are dropped and noted.

    Raises:
        ValueError: if no image in the folder decodes.
    """
    files = sorted((child for child in folder.iterdir() if child.is_file() and is_image_file(child)), key=_natural_key)
    issues: list[tuple[str, str, str]] = []
    frames = []
    for file in files:
        try:
            frames.append(decode_image(file, size))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            issues.append((f"unreadable frame image dropped: {error}", "repaired", file.name))
    if not frames:
        raise ValueError(f"none of the {len(files)} frame images could be read")
    return DecodedVideo(np.stack(frames), np.arange(len(frames), dtype=np.float64) / rate, rate, 0, issues)


def resample(video: DecodedVideo, frame_rate: float | None) -> tuple[np.ndarray, float]:
    """Return the frames at ``frame_rate`` (nearest earlier frame at each tick) and the rate used.

    ``None`` keeps every decoded frame at the video's native rate, so a
    variable-rate video keeps its uneven spacing.
    """
    if frame_rate is None:
        return video.frames, video.native_rate
    duration = float(video.times[-1]) + 1.0 / video.native_rate
    ticks = np.arange(0.0, duration - 1e-9, 1.0 / frame_rate)
    positions = np.searchsorted(video.times, ticks + 1e-6, side="right") - 1
    return video.frames[np.clip(positions, 0, len(video.frames) - 1)], frame_rate


def clip_starts(frame_count: int, clip_length: int, max_clips: int) -> list[int]:
    """Return the first frame of each non-overlapping clip, evenly spread when ``max_clips`` caps them."""
    available = frame_count // clip_length
    if max_clips and available > max_clips:
        chosen = np.linspace(0, available - 1, max_clips).round().astype(int)
        return [int(clip) * clip_length for clip in chosen]
    return [clip * clip_length for clip in range(available)]


class VideoClipDataset(Dataset):
    """Decoded clips in memory (N×T×3×S×S uint8) with per-clip metadata.

    Metadata columns: ``sample_id``, ``path``, ``video`` (the video's path
    relative to the source, without suffix), ``folder`` (first folder level),
    ``clip`` (index within the video), ``start_time`` (seconds), ``frame_rate``
    and ``rotation`` (degrees applied to put the frames upright).
    """

    modality = "video"

    def __init__(self, clips: np.ndarray, ids: list[str], metadata: pd.DataFrame, report: ImportReport, source: str,
                 frame_rate: float | None):
        clip_length, size = clips.shape[1], clips.shape[-1]
        spec = DatasetSpec("video", shape=(clip_length, 3, size, size),
                           extra={"clip_length": clip_length, "image_size": size, "frame_rate": frame_rate or 0.0})
        super().__init__(ids, metadata, spec, report, source)
        self.clips = torch.from_numpy(clips)
        self.frame_rate = frame_rate

    @property
    def clip_length(self) -> int:
        return int(self.clips.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.clips.shape[-1])

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """Return clips N×T×3×S×S, float32 in [0, 1], on ``device``."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.clips[index].to(device, non_blocking=True).float().div_(255.0)

    def preprocessing(self) -> dict:
        rate = f"{self.frame_rate:g} fps (nearest earlier frame)" if self.frame_rate else "every decoded frame"
        return {
            "input": f"clip of clip_length RGB frames sampled at {rate}, upright per the display matrix, "
                     "each resized to image_size × image_size (bilinear), scaled to [0, 1]",
            "clip_length": self.clip_length,
            "image_size": self.image_size,
            "frame_rate": self.frame_rate,
            "layout": "N×T×C×H×W float32",
        }


def _decode_any(path: Path, size: int, max_frames: int, folder_rate: float) -> DecodedVideo:
    if path.is_dir():
        return decode_frame_folder(path, size, folder_rate)
    return decode_video_file(path, size, max_frames)


def _check_options(clip_length: int, image_size: int, frame_rate: float | None, max_clips_per_video: int) -> None:
    if not 2 <= clip_length <= 256:
        raise ValueError(f"clip_length must be between 2 and 256 frames, got {clip_length}")
    if not 8 <= image_size <= 512:
        raise ValueError(f"image_size must be between 8 and 512 pixels, got {image_size}")
    if frame_rate is not None and not 0.01 <= frame_rate <= 1000:
        raise ValueError(f"frame_rate must be between 0.01 and 1000 frames per second, got {frame_rate}")
    if max_clips_per_video < 0:
        raise ValueError(f"max_clips_per_video must be 0 (all) or more, got {max_clips_per_video}")


@register_reader("video", _accepts)
def open_video_folder(path: str | Path, clip_length: int = 8, image_size: int = 64, frame_rate: float | None = None,
                      max_clips_per_video: int = 0, max_frames_per_video: int = 20_000,
                      folder_frame_rate: float = FALLBACK_FRAME_RATE, max_memory_mb: int = 4096,
                      workers: int = 2, **_: object) -> VideoClipDataset:
    """Open a video file, a folder of videos, or folders of frame images, as T-frame clips.

    Args:
        clip_length: frames per clip (T).
        image_size: square frame size S in pixels.
        frame_rate: frames per second to sample at; None keeps every decoded frame.
        max_clips_per_video: cap on non-overlapping clips per video (0 = all).
        max_frames_per_video: decoded frames kept per file; later frames are ignored and noted.
        folder_frame_rate: the rate a folder of frame images was recorded at.
        max_memory_mb: budget of the in-memory clip cache; videos beyond it are skipped and noted.
        workers: videos decoded in parallel (PyAV releases the GIL while decoding).

    Empty, truncated and unreadable files, files without a video stream and
    videos shorter than one clip go to the import report.

    Raises:
        DataError: if the path is missing, contains no video, or no clip can be made.
        ValueError: for an option out of range.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: not found. Check the path and try again.")
    if frame_rate is not None:
        frame_rate = float(frame_rate)
    _check_options(clip_length, image_size, frame_rate, max_clips_per_video)
    videos = find_videos(root)
    base = root.parent if root.is_file() else root
    if not videos:
        raise DataError(f"{root}: no video found (looked for {', '.join(sorted(VIDEO_SUFFIXES))} files and folders "
                        "of frame images, recursively). Choose a folder that contains videos.")

    def decode(video_path: Path) -> DecodedVideo | Exception:
        try:
            return _decode_any(video_path, image_size, max_frames_per_video, folder_frame_rate)
        except (ValueError, OSError, av.FFmpegError) as error:
            return error

    report = ImportReport()
    clip_bytes = clip_length * 3 * image_size * image_size
    budget = max_memory_mb * 1024 * 1024
    clips, ids, rows = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for video_path, decoded in zip(videos, pool.map(decode, videos)):
            relative = video_path.relative_to(base).as_posix() if video_path != base else video_path.name
            if isinstance(decoded, Exception):
                report.add(relative, f"unreadable video: {decoded}")
                continue
            for reason, action, location in decoded.issues:
                report.add(relative, reason, action, location)  # type: ignore[arg-type]
            frames, rate = resample(decoded, frame_rate)
            starts = clip_starts(len(frames), clip_length, max_clips_per_video)
            if not starts:
                report.add(relative, f"only {len(frames)} frames at {rate:g} fps, fewer than clip_length={clip_length}; "
                           "lower clip_length or frame_rate")
                continue
            if (len(clips) + len(starts)) * clip_bytes > budget:
                report.add(relative, f"the clip cache would exceed max_memory_mb={max_memory_mb}; "
                           "raise it, or lower image_size, clip_length or max_clips_per_video")
                continue
            for number, start in enumerate(starts):
                clips.append(frames[start:start + clip_length])
                ids.append(f"{relative}#c{number:03d}")
                rows.append(_clip_row(ids[-1], video_path, relative, number, start / rate, rate, decoded.rotation))
    if not clips:
        raise DataError(f"{root}: none of the {len(videos)} videos gave a clip of {clip_length} frames; "
                        "see the import report.")
    logger.info("Loaded %d clips of %d frames at %d px from %d videos in %s (%s)", len(clips), clip_length, image_size,
                len(videos), root, report.summary(len(clips)))
    return VideoClipDataset(np.stack(clips), ids, pd.DataFrame(rows), report, str(root), frame_rate)


def _clip_row(sample_id: str, video_path: Path, relative: str, number: int, start: float, rate: float,
              rotation: int) -> dict:
    parts = Path(relative).parts
    stem = relative if video_path.is_dir() else Path(relative).with_suffix("").as_posix()
    return {"sample_id": sample_id, "path": str(video_path), "video": stem,
            "folder": parts[0] if len(parts) > 1 else "", "clip": number, "start_time": round(start, 4),
            "frame_rate": round(rate, 4), "rotation": rotation}

