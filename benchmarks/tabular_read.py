"""Open a generated CSV of 1,000,000 rows and print the time and the peak memory as a multiple of the file size.

Usage: ``python benchmarks/tabular_read.py [--rows N] [--keep DIR]``

The CSV (an id, five numeric columns with 2% missing cells, two categorical
columns, a boolean, a date and a label) is written in chunks first. A child
process then imports SSL Studio, notes its resident memory, opens the file
with the table reader and reports the growth of its peak resident memory
(``ru_maxrss``, Linux) over that baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK_ROWS = 100_000


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` rows of mixed columns to ``path`` in chunks of ``CHUNK_ROWS``."""
    rng = np.random.default_rng(seed)
    start_day = np.datetime64("2020-01-01")
    for start in range(0, rows, CHUNK_ROWS):
        count = min(CHUNK_ROWS, rows - start)
        frame = pd.DataFrame({"id": [f"r{index}" for index in range(start, start + count)]})
        for column in range(5):
            values = rng.normal(loc=column, scale=1.0 + column, size=count).round(4)
            values[rng.random(count) < 0.02] = np.nan
            frame[f"x{column}"] = values
        frame["colour"] = rng.choice(["red", "green", "blue", "violet"], size=count)
        frame["site"] = rng.choice([f"site{index}" for index in range(40)], size=count)
        frame["flag"] = rng.choice(["yes", "no"], size=count)
        frame["day"] = (start_day + rng.integers(0, 1500, size=count)).astype(str)
        frame["label"] = rng.choice(["a", "b", "c"], size=count)
        frame.to_csv(path, mode="w" if start == 0 else "a", header=start == 0, index=False, na_rep="")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(path: Path) -> dict:
    """Open ``path`` in this process and return seconds, memory growth and a few facts about the result."""
    import torch

    torch.set_num_threads(1)
    from sslstudio.data.tabular import open_table

    baseline = peak_rss_bytes()
    started = time.perf_counter()
    dataset = open_table(path, label_column="label")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_growth": peak_rss_bytes() - baseline, "peak_total": peak_rss_bytes(),
            "rows": len(dataset), "numeric": len(dataset.numeric_columns),
            "categorical": len(dataset.categorical_columns), "issues": len(dataset.report)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (default 1,000,000)")
    parser.add_argument("--keep", type=Path, help="write the CSV into this folder and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sslstudio-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rows.csv"
    started = time.perf_counter()
    write_csv(path, args.rows)
    size = path.stat().st_size
    print(f"wrote {args.rows:,} rows, {size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s: {path}")
    output = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(f"opened {result['rows']:,} rows ({result['numeric']} numeric, {result['categorical']} categorical inputs, "
          f"{result['issues']} report entries) in {result['seconds']:.1f} s")
    print(f"peak memory growth {result['peak_growth'] / 2**20:.0f} MiB = {result['peak_growth'] / size:.2f} × file size "
          f"(process peak {result['peak_total'] / 2**20:.0f} MiB = {result['peak_total'] / size:.2f} ×)")
    if args.keep is None:
        path.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
