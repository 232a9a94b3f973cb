"""Run the label-efficiency curve on each bundled sample and write a markdown table.

Usage (from the repository root)::

    python benchmarks/label_efficiency.py [--samples digits,gunpoint] [--seeds 0,1,2]
        [--pretrain-epochs 2] [--max-pretrain-steps 0] [--finetune-steps 100]
        [--out benchmarks/results/label_efficiency.md]

Each sample gets a table of the held-out accuracy (mean ± standard deviation
over seeds) of the pretrained and the scratch model at 1, 2, 5, 10 and all
labels per class. The settings, the device and the time taken head the table.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sslstudio.data.samples import list_samples  # noqa: E402
from sslstudio.evaluation.label_efficiency import DEFAULT_COUNTS, label_efficiency_curve  # noqa: E402
from sslstudio.training.config import RunConfig  # noqa: E402
from sslstudio.training.context import RunContext  # noqa: E402
from sslstudio.training.devices import describe_device, select_device  # noqa: E402
from sslstudio.training.events import Finished, Log  # noqa: E402
from sslstudio.workflow import default_task_choices  # noqa: E402

logger = logging.getLogger("benchmarks.label_efficiency")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", help="comma-separated sample names (default: every bundled sample)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--pretrain-epochs", type=int, default=2, help="passes over the pool per seed (default 2)")
    parser.add_argument("--max-pretrain-steps", type=int, default=0,
                        help="cap on pretraining steps per seed (default 0 = no cap)")
    parser.add_argument("--finetune-steps", type=int, default=100, help="optimizer steps per model (default 100)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for PyTorch (default 1)")
    parser.add_argument("--out", default="benchmarks/results/label_efficiency.md", help="markdown file to write")
    return parser.parse_args()


def run_sample(sample, seeds: tuple[int, ...], arguments: argparse.Namespace) -> str:
    """Return the markdown section of one sample."""
    dataset = sample.open()
    config = RunConfig(tasks=default_task_choices(dataset.modality), pretrain_epochs=arguments.pretrain_epochs,
                       max_pretrain_steps=arguments.max_pretrain_steps, finetune_steps=arguments.finetune_steps,
                       label_column=sample.label_column,
                       device=arguments.device)
    device = select_device(config.device)
    context = RunContext(dataset=dataset, labels=dataset.label_column(sample.label_column), device=device,
                         cancel=threading.Event())
    started = time.perf_counter()
    curve = None
    for event in label_efficiency_curve(config, context, DEFAULT_COUNTS, seeds):
        if isinstance(event, Log):
            logger.info("%s: %s", sample.name, event.message)
        elif isinstance(event, Finished):
            curve = event.result.extras["curve"]
    seconds = time.perf_counter() - started
    tasks = ", ".join(choice.name for choice in config.tasks)
    cap = f" (at most {config.max_pretrain_steps} steps)" if config.max_pretrain_steps else ""
    return "\n".join([
        f"## {sample.name} ({sample.modality})",
        "",
        f"Pretext tasks: {tasks}. Pretraining: {config.pretrain_epochs} epochs over the pool{cap}; fine-tuning and scratch: "
        f"{config.finetune_steps} steps of batch {config.batch_size}; encoder {config.encoder_size}. "
        f"Held-out accuracy, mean ± standard deviation over seeds {', '.join(map(str, seeds))}. "
        f"Device {describe_device(device)}; {seconds / 60:.1f} minutes.",
        "",
        curve.markdown(),
        "",
    ])


HEADER = "# Label efficiency: pretrained vs scratch"


def read_sections(path: Path) -> dict[str, str]:
    """Return the sample sections already in ``path``, keyed by sample name ({} when the file is missing)."""
    if not path.exists():
        return {}
    sections: dict[str, str] = {}
    for part in path.read_text(encoding="utf-8").split("\n## ")[1:]:
        name = part.split(" ", 1)[0]
        sections[name] = "## " + part.rstrip("\n") + "\n"
    return sections


def write_sections(path: Path, sections: dict[str, str], order: list[str]) -> None:
    """Write the header and every section, bundled samples first in ``order``, then any others."""
    names = [name for name in order if name in sections] + sorted(set(sections) - set(order))
    header = [HEADER, "",
              f"Written by `benchmarks/label_efficiency.py` on {platform.machine()} ({os.cpu_count()} CPU cores) "
              f"with torch {torch.__version__}. Each sample's line says its settings and time; times include "
              "any other load on the machine.",
              ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + [sections[name] for name in names]), encoding="utf-8")


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(arguments.threads)
    seeds = tuple(int(seed) for seed in arguments.seeds.split(","))
    wanted = set(arguments.samples.split(",")) if arguments.samples else None
    bundled = list_samples()
    samples = [sample for sample in bundled if wanted is None or sample.name in wanted]
    out = Path(arguments.out)
    # Sections of samples not rerun now are kept, so samples can be measured one at a time.
    sections = read_sections(out)
    for sample in samples:
        logger.info("Running %s", sample.name)
        sections[sample.name] = run_sample(sample, seeds, arguments)
        write_sections(out, sections, [sample.name for sample in bundled])
        logger.info("Wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
