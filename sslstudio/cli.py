"""The ``sslstudio`` command: the GUI by default, subcommands for headless work."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def _parse_value(text: str):
    if "," in text:
        return tuple(_parse_value(part.strip()) for part in text.split(",") if part.strip())
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _key_values(items: list[str], flag: str) -> dict:
    result = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise SystemExit(f"error: {flag} expects KEY=VALUE, got {item!r}")
        result[key.replace("-", "_")] = _parse_value(value)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslstudio", description="Self-supervised learning studio. "
                                     "Without a subcommand, the desktop application starts.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages to the log file")
    subcommands = parser.add_subparsers(dest="command")

    gui = subcommands.add_parser("gui", help="start the desktop application (the default)")
    gui.add_argument("--sample", help="open this bundled sample at start")
    gui.add_argument("--project", help="open this project folder at start")

    subcommands.add_parser("samples", help="list the bundled sample datasets")

    tasks = subcommands.add_parser("tasks", help="list the registered pretext tasks with their parameters")
    tasks.add_argument("--modality", help="only tasks of this modality (image, video, timeseries, text, graph, tabular)")

    run = subcommands.add_parser("run", help="pretrain, fine-tune on a few labels, evaluate against scratch, export")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--sample", help="a bundled sample name (see 'sslstudio samples')")
    source.add_argument("--data", help="a data folder or file")
    run.add_argument("--modality", help="the modality of --data when it is ambiguous")
    run.add_argument("--label-column", help="metadata column holding the labels (default: the sample's, or 'folder')")
    run.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                     help="a reader option, such as image_size=32 (repeatable)")
    run.add_argument("--strategy", default="transfer",
                     choices=["transfer", "feature-extraction", "multitask", "proxy"], help="learning strategy")
    run.add_argument("--tasks", help="comma-separated pretext task names (default: the modality's default tasks)")
    run.add_argument("--task-param", action="append", default=[], metavar="TASK:KEY=VALUE",
                     help="a task parameter (repeatable); a comma-separated value is a list, "
                          "such as image.perturbation:perturbations=blur,vertical_flip")
    run.add_argument("--labels-per-class", type=int, default=5, help="labeled samples per class for fine-tuning "
                     "(0 = every labeled sample; default 5)")
    run.add_argument("--pretrain-epochs", type=int, default=4, help="passes over the unlabeled data (default 4)")
    run.add_argument("--finetune-steps", type=int, default=150, help="optimizer steps on the labels (default 150)")
    run.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    run.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    run.add_argument("--encoder-size", default="small", choices=["small", "base", "large"], help="encoder preset")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    run.add_argument("--no-baseline", action="store_true", help="skip the model trained from scratch")
    run.add_argument("--project", default="sslstudio-project",
                     help="project folder for the run and its export (default ./sslstudio-project)")
    run.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def cmd_samples() -> int:
    from sslstudio.data.samples import list_samples

    for sample in list_samples():
        print(f"{sample.name:<16} {sample.modality:<11} {sample.title}")
        print(f"{'':<16} {'':<11} license: {sample.license}")
    return 0


def cmd_tasks(modality: str | None) -> int:
    from sslstudio.tasks.registry import list_tasks

    try:
        tasks = list_tasks(modality)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for cls in tasks:
        print(f"{cls.name}  ({cls.title})")
        print(f"    {cls.description}")
        for row in cls.Params.describe():
            bounds = ""
            if row.get("choices") is not None:
                bounds = f"choices: {', '.join(map(str, row['choices']))}"
            elif row.get("minimum") is not None or row.get("maximum") is not None:
                bounds = f"range: {row.get('minimum')} to {row.get('maximum')}"
            print(f"    --task-param {cls.name}:{row['name']}=…  default {row['default']!r}  {bounds}  {row['help']}")
    return 0


def _task_choices(args, modality: str):
    from sslstudio.training.config import TaskChoice
    from sslstudio.workflow import default_task_choices

    names = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else None
    params: dict[str, dict] = {}
    for item in args.task_param:
        task, separator, rest = item.partition(":")
        if not separator:
            raise SystemExit(f"error: --task-param expects TASK:KEY=VALUE, got {item!r}")
        params.setdefault(task, {}).update(_key_values([rest], "--task-param"))
    if names is None:
        names = [choice.name for choice in default_task_choices(modality)]
    return tuple(TaskChoice.make(name, params.get(name)) for name in names)


def cmd_run(args) -> int:
    from tqdm import tqdm

    from sslstudio.data.base import DataError
    from sslstudio.export.bundle import export_classifier
    from sslstudio.project.store import Project
    from sslstudio.training.config import RunConfig
    from sslstudio.training.events import Finished, Log, Progress
    from sslstudio.workflow import DataChoice, open_data, start_run

    try:
        choice = DataChoice(sample=args.sample, path=args.data, modality=args.modality, label_column=args.label_column,
                            options=_key_values(args.data_option, "--data-option"))
        dataset, label_column = open_data(choice)
        labels = dataset.label_column(label_column)
        config = RunConfig(strategy=args.strategy, tasks=_task_choices(args, dataset.modality),
                           encoder_size=args.encoder_size, pretrain_epochs=args.pretrain_epochs,
                           finetune_steps=args.finetune_steps, batch_size=args.batch_size,
                           learning_rate=args.learning_rate, labels_per_class=args.labels_per_class, seed=args.seed,
                           device=args.device, label_column=label_column, baseline=not args.no_baseline,
                           data_options=tuple(sorted(choice.options.items())))
    except (DataError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) else str(error)
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"Loaded {dataset.source}: {dataset.report.summary(len(dataset))}", file=sys.stderr)
    for issue in dataset.report.issues[:20]:
        print(f"  {issue}", file=sys.stderr)
    if len(dataset.report) > 20:
        print(f"  … and {len(dataset.report) - 20} more (see the log file)", file=sys.stderr)

    project = Project(args.project, create=True)
    project.add_source(dataset.source, dataset.modality, dict(config.data_options))
    run_id, run_dir = project.create_run(config.strategy, config.to_json())
    bar = None
    result = None
    try:
        for event in start_run(config, dataset, labels, run_dir):
            if isinstance(event, Progress) and not args.quiet:
                if bar is None or bar.desc != event.phase:
                    if bar is not None:
                        bar.close()
                    bar = tqdm(total=event.total, desc=event.phase, unit="step", file=sys.stderr, leave=True)
                bar.n = event.step
                bar.set_postfix({"loss": f"{event.metrics.get('loss', float('nan')):.3f}"}, refresh=False)
                bar.refresh()
            elif isinstance(event, Log):
                if bar is not None:
                    bar.close()
                    bar = None
                print(event.message, file=sys.stderr)
            elif isinstance(event, Finished):
                result = event.result
    except (DataError, ValueError) as error:
        project.finish_run(run_id, "failed", {})
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        project.finish_run(run_id, "cancelled", {})
        print("Interrupted; the run folder keeps what was written so far: " + str(run_dir), file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    assert result is not None
    project.finish_run(run_id, result.status, {"pretrained": result.pretrained, "scratch": result.scratch})
    print(f"Run {run_id} ({config.strategy}, {', '.join(choice.name for choice in config.tasks)})")
    print(f"Pretrained accuracy: {result.pretrained.get('accuracy', float('nan')):.4f}")
    if result.scratch:
        print(f"Scratch accuracy:    {result.scratch.get('accuracy', float('nan')):.4f}")
    if not args.no_export:
        exported = export_classifier(result, dataset, config, project.folder / "exports" / run_id)
        print(f"ONNX model: {exported['onnx']} (max difference to PyTorch {max(exported['differences']):.1e} "
              "at batch sizes 1 and 3)")
    return 0


def cmd_gui(sample: str | None, project: str | None) -> int:
    from sslstudio.gui.app import run_app

    return run_app(sample=sample, project=project)


def main(argv: list[str] | None = None) -> int:
    from sslstudio.log import configure_logging

    args = build_parser().parse_args(argv)
    log_file = configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    logger.info("sslstudio %s (log file %s)", args.command or "gui", log_file)
    if args.command == "samples":
        return cmd_samples()
    if args.command == "tasks":
        return cmd_tasks(args.modality)
    if args.command == "run":
        return cmd_run(args)
    return cmd_gui(getattr(args, "sample", None), getattr(args, "project", None))


if __name__ == "__main__":
    sys.exit(main())
