"""The image reader on good and bad files, each built in the test."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from sslstudio.data.base import DataError, open_dataset
from sslstudio.data.image import MAX_PIXELS, open_image_folder


def save(path, image: Image.Image, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


def pixel(dataset, sample_id: str, y: int = 0, x: int = 0) -> tuple[int, int, int]:
    index = dataset.ids.index(sample_id)
    return tuple(int(value) for value in dataset.pixels[index, :, y, x])


def test_class_folders_become_metadata(tmp_path):
    save(tmp_path / "cats" / "a.png", Image.new("RGB", (10, 10), (255, 0, 0)))
    save(tmp_path / "dogs" / "b.jpg", Image.new("RGB", (10, 10), (0, 0, 255)))
    save(tmp_path / "c.bmp", Image.new("RGB", (10, 10), (0, 255, 0)))
    dataset = open_image_folder(tmp_path, image_size=16)
    assert sorted(dataset.ids) == ["c.bmp", "cats/a.png", "dogs/b.jpg"]
    assert dataset.label_column("folder")[dataset.ids.index("cats/a.png")] == "cats"
    assert dataset.label_column("folder")[dataset.ids.index("c.bmp")] is None
    assert dataset.batch([0, 1]).shape == (2, 3, 16, 16)


def test_every_format_loads(tmp_path):
    image = Image.new("RGB", (12, 12), (10, 200, 30))
    for suffix in ("png", "jpeg", "tiff", "bmp", "webp"):
        save(tmp_path / f"x.{suffix}", image)
    dataset = open_image_folder(tmp_path, image_size=12)
    assert len(dataset) == 5
    assert len(dataset.report) == 0


def test_grey_and_palette_become_rgb(tmp_path):
    save(tmp_path / "grey.png", Image.new("L", (8, 8), 77))
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([200, 100, 50] + [0] * 765)
    save(tmp_path / "palette.png", palette)
    dataset = open_image_folder(tmp_path, image_size=8)
    assert pixel(dataset, "grey.png") == (77, 77, 77)
    assert pixel(dataset, "palette.png") == (200, 100, 50)


def test_rgba_is_composited_on_white(tmp_path):
    save(tmp_path / "clear.png", Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    save(tmp_path / "half.png", Image.new("RGBA", (8, 8), (0, 0, 0, 128)))
    dataset = open_image_folder(tmp_path, image_size=8)
    assert pixel(dataset, "clear.png") == (255, 255, 255)
    assert pixel(dataset, "half.png")[0] == pytest.approx(127, abs=2)


def test_cmyk_is_converted(tmp_path):
    save(tmp_path / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=100)
    dataset = open_image_folder(tmp_path, image_size=8)
    red, green, blue = pixel(dataset, "cmyk.jpg", 4, 4)
    assert red > 200
    assert green < 60
    assert blue < 60


def test_16_bit_is_scaled_from_its_range(tmp_path):
    array = np.full((8, 8), 1000, dtype=np.uint16)
    array[:, 4:] = 3000
    save(tmp_path / "deep.png", Image.fromarray(array))
    dataset = open_image_folder(tmp_path, image_size=8)
    assert pixel(dataset, "deep.png", 0, 0) == (0, 0, 0)
    assert pixel(dataset, "deep.png", 0, 7) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (20, 10), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 10))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    save(tmp_path / "phone.jpg", image, exif=exif.tobytes(), quality=100)
    dataset = open_image_folder(tmp_path, image_size=20)
    index = dataset.ids.index("phone.jpg")
    top = dataset.pixels[index, 0, 1, :].float().mean()
    bottom = dataset.pixels[index, 0, -2, :].float().mean()
    assert top > 200, "after rotating clockwise the white half is on top"
    assert bottom < 60


def test_hidden_and_sidecar_files_are_ignored(tmp_path):
    save(tmp_path / "real.png", Image.new("RGB", (8, 8)))
    (tmp_path / "._real.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    save(tmp_path / ".hidden.png", Image.new("RGB", (8, 8)))
    save(tmp_path / ".thumbs" / "t.png", Image.new("RGB", (8, 8)))
    dataset = open_image_folder(tmp_path, image_size=8)
    assert dataset.ids == ["real.png"]
    assert len(dataset.report) == 0


def test_bad_files_are_reported_and_rest_loads(tmp_path):
    save(tmp_path / "good.png", Image.new("RGB", (8, 8), (1, 2, 3)))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buffer, format="PNG")
    (tmp_path / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (tmp_path / "garbage.jpg").write_bytes(b"not an image at all")
    (tmp_path / "empty.webp").write_bytes(b"")
    dataset = open_image_folder(tmp_path, image_size=8)
    assert dataset.ids == ["good.png"]
    reported = {issue.source: issue.reason for issue in dataset.report.issues}
    assert set(reported) == {"truncated.png", "garbage.jpg", "empty.webp"}
    assert all(issue.action == "skipped" for issue in dataset.report.issues)


def test_decompression_bomb_is_reported(tmp_path):
    save(tmp_path / "good.png", Image.new("RGB", (8, 8)))
    side = int(MAX_PIXELS ** 0.5) + 10
    # A PNG claiming side×side pixels with almost no data: Pillow reads the size without decoding.
    import zlib

    header = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = header + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    dataset = open_image_folder(tmp_path, image_size=8)
    assert dataset.ids == ["good.png"]
    assert "decompression bomb" in dataset.report.issues[0].reason


def test_missing_folder_raises(tmp_path):
    with pytest.raises(DataError, match="not found"):
        open_image_folder(tmp_path / "nowhere")


def test_folder_without_images_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="no image files found"):
        open_image_folder(tmp_path)


def test_all_unreadable_raises(tmp_path):
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 image files"):
        open_image_folder(tmp_path)


def test_open_dataset_detects_images(tmp_path):
    save(tmp_path / "x.png", Image.new("RGB", (8, 8)))
    assert open_dataset(tmp_path, image_size=8).modality == "image"


def test_bundled_digits_load(digits):
    assert len(digits) == 1797
    assert len(digits.report) == 0
    assert sorted(set(digits.label_column("folder"))) == [str(digit) for digit in range(10)]
