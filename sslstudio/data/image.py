"""Image folders: PNG, JPEG, TIFF, BMP and WebP files, optionally in class sub-folders.

Every image is decoded to RGB at the project's square image size and kept in
memory as uint8 (N×3×S×S); a batch is float32 in [0, 1].
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps

from sslstudio.data.base import DataError, Dataset, DatasetSpec, register_reader
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
# Pillow's default bomb limit is ~89 Mpx; over this many pixels an image is rejected, not decoded.
MAX_PIXELS = 89_478_485
MIN_SIZE, MAX_AUTO_SIZE = 16, 224

# ImageNet statistics are the usual default; the model card records whichever are used.
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.25, 0.25, 0.25)


def is_image_file(path: Path) -> bool:
    """Return whether ``path`` looks like an image to import (hidden and ``._*`` files excluded)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def find_images(root: Path) -> list[Path]:
    """Return the image files below ``root``, recursively, in sorted order, skipping hidden folders."""
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and is_image_file(path):
            found.append(path)
    return found


def _accepts(path: Path) -> bool:
    if path.is_file():
        return is_image_file(path)
    return path.is_dir() and any(True for _ in find_images(path)[:1])


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: alpha is composited on white, 16-bit data is scaled from its range.

    Raises:
        ValueError: for modes Pillow cannot convert.
    """
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        array = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = np.clip((array - low) * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in {"RGBA", "LA", "PA"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(path: Path, size: int) -> np.ndarray:
    """Decode one image file to a 3×size×size uint8 array.

    Raises:
        OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning: if the file is
        unreadable, truncated or too large.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError(
                    f"{width}×{height} pixels is over the limit of {MAX_PIXELS} pixels"
                )
            image.load()
            rgb = to_rgb(image)
    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).copy()


def auto_image_size(paths: Sequence[Path], probe: int = 64) -> int:
    """Pick a square size from the median larger side of up to ``probe`` images (multiple of 8, 16..224)."""
    sides = []
    for path in paths[:probe]:
        try:
            with Image.open(path) as image:
                sides.append(max(image.size))
        except (OSError, ValueError):
            continue
    if not sides:
        return 64
    median = int(np.median(sides))
    rounded = -(-median // 8) * 8
    return int(min(max(rounded, MIN_SIZE), MAX_AUTO_SIZE))


class ImageFolderDataset(Dataset):
    """Decoded images in memory (N×3×S×S uint8) with ``path`` and ``folder`` metadata."""

    modality = "image"

    def __init__(self, pixels: np.ndarray, ids: list[str], metadata: pd.DataFrame, report: ImportReport, source: str,
                 mean: Sequence[float] = DEFAULT_MEAN, std: Sequence[float] = DEFAULT_STD):
        size = pixels.shape[-1]
        spec = DatasetSpec("image", shape=(3, size, size), extra={"image_size": size})
        super().__init__(ids, metadata, spec, report, source)
        self.pixels = torch.from_numpy(pixels)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)

    @property
    def image_size(self) -> int:
        return int(self.pixels.shape[-1])

    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
        """Return images N×3×S×S, float32 in [0, 1], on ``device``."""
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self.pixels[index].to(device, non_blocking=True).float().div_(255.0)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] images to the encoder's input range with the dataset's mean and std."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images - mean) / std

    def preprocessing(self) -> dict:
        return {
            "input": "RGB image, resized to image_size × image_size (bilinear), scaled to [0, 1], "
                     "then (x - mean) / std per channel",
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": "NCHW float32",
        }


@register_reader("image", _accepts)
def open_image_folder(path: str | Path, image_size: int | None = None, **_: object) -> ImageFolderDataset:
    """Open an image file or a folder of images (recursively).

    The first folder level below ``path`` becomes the ``folder`` column (empty
    for images directly in ``path``). Unreadable, truncated and oversized files
    go to the import report.

    Raises:
        DataError: if the path is missing, contains no image files, or none decodes.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root}: folder not found. Check the path and try again.")
    files = [root] if root.is_file() else find_images(root)
    base = root.parent if root.is_file() else root
    if not files:
        raise DataError(
            f"{root}: no image files found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively). "
            "Choose a folder that contains images."
        )
    if image_size is None:
        image_size = auto_image_size(files)
    if not 4 <= image_size <= 1024:
        raise ValueError(f"image_size must be between 4 and 1024 pixels, got {image_size}")

    report = ImportReport()
    arrays, ids, rows = [], [], []
    for file in files:
        relative = file.relative_to(base).as_posix()
        try:
            arrays.append(decode_image(file, image_size))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            report.add(relative, f"image too large (decompression bomb): {error}")
            continue
        except (OSError, ValueError, SyntaxError) as error:
            report.add(relative, f"unreadable or truncated image: {error}")
            continue
        parts = Path(relative).parts
        rows.append({"sample_id": relative, "path": str(file), "file_name": file.name,
                     "folder": parts[0] if len(parts) > 1 else ""})
        ids.append(relative)
    if not arrays:
        raise DataError(f"{root}: none of the {len(files)} image files could be read; see the import report.")
    logger.info("Loaded %d images from %s at %d px (%s)", len(arrays), root, image_size, report.summary(len(arrays)))
    return ImageFolderDataset(np.stack(arrays), ids, pd.DataFrame(rows), report, str(root))
