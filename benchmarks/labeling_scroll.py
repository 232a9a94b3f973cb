"""Open a generated 100,000-image project on the labeling page, scroll its grid and label from the keyboard.

Usage, from the repository root: ``PYTHONPATH=. python benchmarks/labeling_scroll.py [--items N] [--in-memory]
[--keep DIR]``

Tiny PNG files (8×8 pixels, in 10 class folders) are written first, then a
project is created for them and opened the way the application opens one (the
image reader on the calling thread, as the GUI's loading worker does). The
script prints, in seconds:

- the time to read the image folder, and to show it on the labeling page until
  the thumbnails of the first screen are rendered;
- the grid scrolled from top to bottom in 200 scroll-bar steps: the total, and
  the median and maximum time the UI thread spent on one step. A step above
  about 0.1 s is felt as a freeze. Then the time until the last screen's
  thumbnails are rendered;
- 100 labels made by key presses, each committed to ``project.sqlite``.

``--in-memory`` skips the files and builds the dataset from random pixels.
The offscreen Qt platform is used unless ``QT_QPA_PLATFORM`` is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint  # noqa: E402

CLASSES = 10
SCROLL_STEPS = 200
LABELS = 100


def write_images(folder: Path, count: int, seed: int = 0) -> None:
    """Write ``count`` 8×8 RGB PNGs to ``folder/class<k>/img<i>.png``."""
    rng = np.random.default_rng(seed)
    for index in range(CLASSES):
        (folder / f"class{index}").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"class{index % CLASSES}" / f"img{index:06d}.png")


def memory_dataset(count: int, seed: int = 0):
    from sslstudio.data.image import ImageFolderDataset
    from sslstudio.data.report import ImportReport

    rng = np.random.default_rng(seed)
    ids = [f"class{index % CLASSES}/img{index:06d}.png" for index in range(count)]
    metadata = pd.DataFrame({"sample_id": ids, "folder": [sample_id.split("/")[0] for sample_id in ids]})
    pixels = rng.integers(0, 255, (count, 3, 8, 8), dtype=np.uint8)
    return ImageFolderDataset(pixels, ids, metadata, ImportReport(), "memory")


def visible_rows(page) -> list[int]:
    """Return the rows whose cells intersect the grid's viewport."""
    viewport = page.grid.viewport().rect()
    cell = page.grid.gridSize()
    first = page.grid.indexAt(viewport.topLeft() + QPoint(cell.width() // 2, cell.height() // 2))
    if not first.isValid():
        return []
    columns = max(1, viewport.width() // max(1, cell.width()))
    rows = []
    row = max(0, first.row() - columns)
    while row < page.model.rowCount():
        rect = page.grid.visualRect(page.model.index(row))
        if rect.top() > viewport.bottom():
            break
        if rect.intersects(viewport):
            rows.append(row)
        row += 1
    return rows


def wait_for_visible(application, page, timeout: float = 60.0) -> tuple[float, int]:
    """Process events until every row on screen has its thumbnail; return the seconds waited and the row count."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        application.processEvents()
        rows = visible_rows(page)
        if rows and all(page.model.is_cached(row) for row in rows):
            return time.perf_counter() - started, len(rows)
        time.sleep(0.002)
    raise TimeoutError(f"thumbnails on screen not rendered within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="number of images (default 100000)")
    parser.add_argument("--in-memory", action="store_true", help="build the dataset in memory, without files")
    parser.add_argument("--keep", help="write the images and the project here and keep them (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from sslstudio.data.image import open_image_folder
    from sslstudio.gui.pages.labeling_page import LabelingPage
    from sslstudio.gui.state import AppState, LoadedData
    from sslstudio.project.store import Project

    application = QApplication.instance() or QApplication([])
    temporary = None if args.keep else tempfile.TemporaryDirectory()
    root = Path(args.keep or temporary.name)
    data_folder = root / "images"

    if args.in_memory:
        dataset = memory_dataset(args.items)
        print(f"generated {args.items} images in memory")
    else:
        started = time.perf_counter()
        write_images(data_folder, args.items)
        print(f"wrote {args.items} PNG files (8×8 px) in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        dataset = open_image_folder(data_folder, image_size=8)
        print(f"read the image folder: {time.perf_counter() - started:.2f} s")

    project = Project.create(root / "project")
    source_id = project.add_source(str(data_folder), "image", {"label_column": "folder", "image_size": 8})
    for index in range(CLASSES):
        project.add_class(f"class{index}")
    state = AppState()
    page = LabelingPage(state)
    page.resize(1280, 900)
    page.show()
    application.processEvents()

    started = time.perf_counter()
    state.set_data(project, LoadedData(dataset, "folder", "benchmark", source_id))
    shown = time.perf_counter() - started
    first_screen, on_screen = wait_for_visible(application, page)
    print(f"open on the labeling page: {shown:.2f} s; first screen ({on_screen} thumbnails) rendered "
          f"{first_screen:.2f} s later")

    scroll_bar = page.grid.verticalScrollBar()
    step_times = []
    started = time.perf_counter()
    for step in range(1, SCROLL_STEPS + 1):
        step_started = time.perf_counter()
        scroll_bar.setValue(scroll_bar.maximum() * step // SCROLL_STEPS)
        application.processEvents()
        step_times.append(time.perf_counter() - step_started)
    scrolled = time.perf_counter() - started
    last_screen, _ = wait_for_visible(application, page)
    print(f"scroll top to bottom in {SCROLL_STEPS} steps: {scrolled:.2f} s; UI thread per step: median "
          f"{statistics.median(step_times) * 1000:.1f} ms, max {max(step_times) * 1000:.1f} ms; "
          f"last screen of thumbnails {last_screen:.2f} s later")

    page.go_to(0)
    page.grid.setFocus()
    started = time.perf_counter()
    for index in range(LABELS):
        QTest.keyClick(page.grid, Qt.Key(Qt.Key.Key_1 + index % 9))
    labeled = time.perf_counter() - started
    stored = len(Project(root / "project").labels(source_id))
    print(f"{LABELS} labels by key press: {labeled:.2f} s ({labeled / LABELS * 1000:.1f} ms each); "
          f"{stored} in project.sqlite")

    page.shutdown()
    project.close()
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
