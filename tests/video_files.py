"""Write small video files with PyAV for the video tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def grey_frames(count: int, height: int = 32, width: int = 32) -> np.ndarray:
    """Return count×H×W×3 uint8 frames whose grey level encodes the frame index (20 levels apart)."""
    levels = (np.arange(count) * 20 + 10).clip(0, 255).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, height, width, 3)).copy()


def write_video(path: Path, frames: np.ndarray, rate: int = 10, codec: str = "libx264",
                times_ms: list[int] | None = None, rotation: int | None = None) -> Path:
    """Encode count×H×W×3 frames to ``path``; ``times_ms`` sets explicit presentation times."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10"}
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if times_ms is not None:
                frame.pts = times_ms[index]
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 0.5, rate: int = 16_000) -> Path:
    """Write a file with one mono audio stream and no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = np.zeros((1, int(seconds * rate)), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
