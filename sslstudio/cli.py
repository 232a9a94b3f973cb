"""The ``sslstudio`` command: the GUI by default, subcommands for headless work."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import warnings
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


def _error_text(error: Exception) -> str:
    """Return the message of ``error``; a KeyError's ``str`` would wrap it in quotes."""
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _worker_count(text: str) -> int:
    """Parse ``--workers``: a whole number from 0 to 64 (argparse prints the message and exits with 2)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; use a whole number from 0 (load batches on the "
                                         "training thread) to 64")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sslstudio", description="Self-supervised learning studio. "
                                     "Without a subcommand, the desktop application starts.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages to the log file")
    parser.add_argument("--self-test", action="store_true",
                        help="open the window offscreen, train a few steps on the digits, export to ONNX, and exit")
    subcommands = parser.add_subparsers(dest="command")

    gui = subcommands.add_parser("gui", help="start the desktop application (the default)")
    gui.add_argument("--sample", help="open this bundled sample at start")
    gui.add_argument("--project", help="open this project folder at start")

    subcommands.add_parser("samples", help="list the bundled sample datasets")

    tasks = subcommands.add_parser("tasks", help="list the registered pretext tasks with their parameters")
    tasks.add_argument("--modality", help="only tasks of this modality (image, video, timeseries, text, graph, tabular)")

    run = subcommands.add_parser("run", aliases=["train"],
                                 help="pretrain, fine-tune on a few labels, evaluate against scratch, export "
                                 "('train' is the same command; it also runs under torchrun)")
    _add_data_arguments(run, required=False)
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue a cancelled, crashed or killed run from its checkpoints "
                     "(PROJECT/runs/<run-id>); its config and data are read from that folder")
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
    run.add_argument("--no-export", action="store_true", help="skip the export (ONNX, torch.export, safetensors)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    run.add_argument("--early-stopping", type=int, default=0, metavar="EPOCHS",
                     help="stop pretraining after this many epochs without a lower validation pretext loss "
                     "(default 0 = off)")
    run.add_argument("--max-pretrain-steps", type=int, default=0,
                     help="stop pretraining after this many optimizer steps (default 0 = no limit)")
    run.add_argument("--workers", type=_worker_count, default=0, metavar="N",
                     help="worker processes that load batches ahead of each training step (default 0 = load on "
                     "the training thread). Starting them takes seconds per phase")
    _add_strategy_arguments(run)
    run.add_argument("--export-embeddings", metavar="PATH",
                     help="write every sample's encoder features with its id to PATH (.csv or .parquet)")

    advise = subcommands.add_parser("advise", help="rank pretext tasks and metadata proxies by a short "
                                    "pretraining and a cross-validated linear probe on the labels")
    _add_data_arguments(advise)
    advise.add_argument("--labels-per-class", type=int, default=5,
                        help="labeled samples per class for the probe (0 = every labeled sample; default 5)")
    advise.add_argument("--steps", type=int, default=200, help="pretraining steps per candidate (default 200)")
    advise.add_argument("--folds", type=int, default=5, help="cross-validation folds, at most (default 5)")
    advise.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    advise.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    advise.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")

    predict = subcommands.add_parser("predict", help="run an exported model on new data and write class probabilities")
    predict.add_argument("model_dir", help="an export folder (containing model_card.json)")
    predict.add_argument("data", help="a data folder or file, read like the training data")
    predict.add_argument("--out", default="predictions.csv", help="CSV file to write (default predictions.csv)")
    predict.add_argument("--format", default="onnx", choices=["onnx", "pt2", "safetensors"],
                         help="which exported file runs the model (default onnx)")

    labels = subcommands.add_parser("labels", help="import or export a project's labels")
    label_actions = labels.add_subparsers(dest="labels_command", required=True)
    label_import = label_actions.add_parser(
        "import", help="import labels from a CSV (sample id or file name, label) or from class sub-folders; "
        "exit status 1 when some rows were not imported")
    label_import.add_argument("project", help="project folder")
    label_import.add_argument("file", help="CSV file, or a folder with one sub-folder per class")
    label_import.add_argument("--add-classes", action="store_true", help="create classes the project lacks "
                              "(default: only when the project has no classes yet)")
    label_export = label_actions.add_parser("export", help="export labels as a CSV with columns sample_id,label")
    label_export.add_argument("project", help="project folder")
    label_export.add_argument("file", help="CSV file to write")
    for action in (label_import, label_export):
        action.add_argument("--source", type=int, help="data source id (default: the project's first source)")
    return parser


def _print_report(dataset) -> None:
    print(f"Loaded {dataset.source}: {dataset.report.summary(len(dataset))}", file=sys.stderr)
    for issue in dataset.report.issues[:20]:
        print(f"  {issue}", file=sys.stderr)
    if len(dataset.report) > 20:
        print(f"  … and {len(dataset.report) - 20} more (see the log file)", file=sys.stderr)


def _add_data_arguments(command: argparse.ArgumentParser, required: bool = True) -> None:
    source = command.add_mutually_exclusive_group(required=required)
    source.add_argument("--sample", help="a bundled sample name (see 'sslstudio samples')")
    source.add_argument("--data", help="a data folder or file")
    command.add_argument("--modality", help="the modality of --data when it is ambiguous")
    command.add_argument("--label-column", help="metadata column holding the labels (default: the sample's, or 'folder')")
    command.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                         help="a reader option, such as image_size=32 (repeatable)")


def _add_strategy_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--probe", default="logistic", choices=["logistic", "knn"],
                     help="feature-extraction: classifier fitted on the frozen embeddings (default logistic)")
    run.add_argument("--knn-neighbors", type=int, default=5, help="feature-extraction: k of the kNN probe (default 5)")
    run.add_argument("--supervised-weight", type=float, default=1.0,
                     help="multitask: weight of the supervised loss; pretext tasks keep their own weights (default 1)")
    run.add_argument("--proxy-source", default="task", choices=["task", "column", "pattern"],
                     help="proxy: train on a pretext task's output, a metadata column, or a regex match in a column")
    run.add_argument("--proxy-task", default="", help="proxy: which selected task (default: the first)")
    run.add_argument("--proxy-column", default="",
                     help="proxy: metadata column to train on, or to search with --proxy-pattern (default file_name)")
    run.add_argument("--proxy-pattern", default="",
                     help="proxy: regular expression; its first group (or whole match) is the proxy class")


def _strategy_options(args) -> dict:
    return {"probe": args.probe, "knn_neighbors": args.knn_neighbors, "supervised_weight": args.supervised_weight,
            "proxy_source": args.proxy_source, "proxy_task": args.proxy_task, "proxy_column": args.proxy_column,
            "proxy_pattern": args.proxy_pattern, "max_pretrain_steps": args.max_pretrain_steps,
            "early_stopping_patience": args.early_stopping, "loader_workers": args.workers}


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
        print(f"error: {_error_text(error)}", file=sys.stderr)
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


def _prepare_run(args):
    """Return ``(choice, dataset, labels, config)`` for a new run, or those recorded in ``--resume``'s folder."""
    from sslstudio.data.base import DataError
    from sslstudio.training.config import RunConfig
    from sslstudio.training.loop import build_tasks
    from sslstudio.workflow import DataChoice, open_data, read_run_inputs

    if args.resume:
        choice, config = read_run_inputs(Path(args.resume))
        dataset, label_column = open_data(choice)
        return choice, dataset, dataset.label_column(label_column), config
    if not (args.sample or args.data):
        raise DataError("choose the data with --sample or --data, or continue a run with --resume RUN_DIR")
    choice = DataChoice(sample=args.sample, path=args.data, modality=args.modality, label_column=args.label_column,
                        options=_key_values(args.data_option, "--data-option"))
    dataset, label_column = open_data(choice)
    choice = DataChoice(sample=choice.sample, path=choice.path, modality=dataset.modality, label_column=label_column,
                        options=choice.options)
    labels = dataset.label_column(label_column)
    config = RunConfig(strategy=args.strategy, tasks=_task_choices(args, dataset.modality),
                       encoder_size=args.encoder_size, pretrain_epochs=args.pretrain_epochs,
                       finetune_steps=args.finetune_steps, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, labels_per_class=args.labels_per_class, seed=args.seed,
                       device=args.device, label_column=label_column, baseline=not args.no_baseline,
                       data_options=tuple(sorted(choice.options.items())), **_strategy_options(args))
    build_tasks(config, dataset)  # rejects unknown tasks and invalid parameters before anything runs
    return choice, dataset, labels, config


def _open_run_folder(args, project, dataset, config, distributed) -> tuple[str, Path]:
    """Create the run (rank 0) or reuse ``--resume``'s folder; other ranks receive rank 0's folder."""
    if args.resume:
        run_dir = Path(args.resume).resolve()
        return run_dir.name, run_dir
    folder = [None]
    if distributed.is_main:
        project.add_source(dataset.source, dataset.modality, dict(config.data_options))
        run_id, run_dir = project.create_run(config.strategy, config.to_json())
        folder = [str(run_dir)]
    if distributed.enabled:
        import torch.distributed as dist

        dist.broadcast_object_list(folder, src=0)
    run_dir = Path(folder[0])
    return run_dir.name, run_dir


def _cancel_on_interrupt(cancel: threading.Event):
    """Make the first Ctrl-C set ``cancel`` (the run saves a checkpoint and stops) and a second one interrupt at once.

    Returns the previous SIGINT handler, for ``signal.signal`` to restore, or None off the main thread,
    where Python cannot install handlers and Ctrl-C is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nStopping after the current step and saving a checkpoint (press Ctrl-C again to stop at once)",
              file=sys.stderr)

    return signal.signal(signal.SIGINT, interrupt)


def cmd_run(args) -> int:
    from tqdm import tqdm

    from sslstudio.data.base import DataError
    from sslstudio.export.bundle import export_run
    from sslstudio.project.store import Project, ProjectError
    from sslstudio.training.distributed import finish_distributed, init_distributed, launched_by_torchrun
    from sslstudio.training.events import Finished, Log, Progress
    from sslstudio.workflow import start_run, write_run_inputs

    try:
        choice, dataset, labels, config = _prepare_run(args)
        project = Project(Path(args.resume).resolve().parents[1] if args.resume else args.project, create=not args.resume)
    except (DataError, KeyError, ValueError, ProjectError, FileNotFoundError) as error:
        print(f"error: {_error_text(error)}", file=sys.stderr)
        return 2
    distributed, device = init_distributed(config.device) if launched_by_torchrun() else (None, None)
    if distributed is None:
        from sslstudio.training.distributed import DistributedInfo

        distributed = DistributedInfo()
    quiet = args.quiet or not distributed.is_main
    if distributed.is_main:
        _print_report(dataset)
    run_id, run_dir = _open_run_folder(args, project, dataset, config, distributed)
    if distributed.is_main and not args.resume:
        write_run_inputs(run_dir, choice, config)
    bar = None
    result = None
    cancel = threading.Event()
    previous_handler = _cancel_on_interrupt(cancel)
    try:
        events = start_run(config, dataset, labels, run_dir, cancel, resume=bool(args.resume),
                           distributed=distributed, device=device)
        for event in events:
            if isinstance(event, Progress) and not quiet:
                if bar is None or bar.desc != event.phase:
                    if bar is not None:
                        bar.close()
                    bar = tqdm(total=event.total, desc=event.phase, unit="step", file=sys.stderr, leave=True)
                bar.n = event.step
                bar.set_postfix({"loss": f"{event.metrics.get('loss', float('nan')):.3f}"}, refresh=False)
                bar.refresh()
            elif isinstance(event, Log) and distributed.is_main:
                if bar is not None:
                    bar.close()
                    bar = None
                print(event.message, file=sys.stderr)
            elif isinstance(event, Finished):
                result = event.result
    except (DataError, KeyError, ValueError) as error:
        if distributed.is_main:
            project.finish_run(run_id, "failed", {})
        print(f"error: {_error_text(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if distributed.is_main:
            project.finish_run(run_id, "cancelled", {})
        print(f"Interrupted; resume with: sslstudio train --resume {run_dir}", file=sys.stderr)
        return 130
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if bar is not None:
            bar.close()
        finish_distributed()
    if not distributed.is_main:
        return 0
    assert result is not None
    if result.status == "cancelled":
        project.finish_run(run_id, "cancelled", {})
        print(f"Interrupted; the checkpoint is saved. Resume with: sslstudio train --resume {run_dir}", file=sys.stderr)
        return 130
    project.finish_run(run_id, result.status, {"pretrained": result.pretrained, "scratch": result.scratch})
    print(f"Run {run_id} ({config.strategy}, {', '.join(choice.name for choice in config.tasks)})")
    print(f"Pretrained accuracy: {result.pretrained.get('accuracy', float('nan')):.4f}")
    if result.scratch:
        print(f"Scratch accuracy:    {result.scratch.get('accuracy', float('nan')):.4f}")
    if args.export_embeddings:
        _export_embeddings(args.export_embeddings, result, dataset, labels, config)
    if not args.no_export:
        exported = export_run(result, dataset, config, project.folder / "exports" / run_id)
        checks = json.loads(exported["model_card"].read_text(encoding="utf-8"))["checks"]
        print(f"ONNX model: {exported['onnx']} (max difference to PyTorch "
              f"{max(checks['onnx']['max_abs_difference']):.1e} at batch sizes 1 and 3)")
        print(f"torch.export program: {exported['pt2']}")
        if "safetensors" in exported:
            print(f"safetensors weights: {exported['safetensors']}")
        else:
            print("safetensors weights: skipped (this downstream head cannot be rebuilt from weights; "
                  "see skipped_formats in the model card)")
        print(f"Model card: {exported['model_card']}")
    return 0


def cmd_predict(args) -> int:
    from sslstudio.data.base import DataError
    from sslstudio.export.predict import label_agreement, load_export
    from sslstudio.training.checkpoints import atomic_write_text

    try:
        model = load_export(args.model_dir, args.format)
        dataset = model.open_data(args.data)
        _print_report(dataset)
        frame = model.predict_dataset(dataset)
    except (DataError, ValueError) as error:
        print(f"error: {_error_text(error)}", file=sys.stderr)
        return 2
    atomic_write_text(Path(args.out), frame.to_csv(index=False))
    print(f"Predicted {len(frame)} samples with {model.card['formats'][args.format]}; wrote {args.out}")
    agreement = label_agreement(frame, dataset, model.card["dataset"].get("label_column", "folder"))
    if agreement is not None:
        share, count = agreement
        print(f"Agreement with the labels in {model.card['dataset']['label_column']!r}: {share:.4f} "
              f"({count} labeled samples)")
    return 0


def cmd_labels(args) -> int:
    from sslstudio.data.base import DataError
    from sslstudio.project.labels_io import LabelFileError, export_labels, import_label_file
    from sslstudio.project.sources import open_source, project_source
    from sslstudio.project.store import Project, ProjectError

    try:
        project = Project(args.project)
        source = project_source(project, args.source)
        if args.labels_command == "export":
            count = export_labels(project, source["id"], args.file)
            print(f"Exported {count} labels to {args.file}")
            return 0
        dataset, _ = open_source(source)
        result = import_label_file(project, source["id"], dataset.ids, args.file, args.add_classes or None)
    except (ProjectError, DataError, LabelFileError) as error:
        print(f"error: {_error_text(error)}", file=sys.stderr)
        return 2
    print(result.summary())
    for line in result.details():
        print(f"  {line}", file=sys.stderr)
    return 1 if result.rejected else 0


def _export_embeddings(path: str, result, dataset, labels, config) -> None:
    from sslstudio.evaluation.embeddings import export_embeddings
    from sslstudio.training.devices import select_device
    from sslstudio.training.loop import embed

    embeddings = result.extras.get("embeddings")
    if embeddings is None:
        embeddings = embed(result.model.encoder, dataset, range(len(dataset)), select_device(config.device))
    written = export_embeddings(path, dataset.ids, embeddings, labels)
    print(f"Embeddings: {written} ({embeddings.shape[0]} samples × {embeddings.shape[1]} features)")


def cmd_advise(args) -> int:
    from sslstudio.data.base import DataError
    from sslstudio.evaluation.advisor import ADVICE_EPOCHS, advise
    from sslstudio.training.config import RunConfig
    from sslstudio.training.context import RunContext
    from sslstudio.training.devices import select_device
    from sslstudio.training.events import Finished, Log
    from sslstudio.workflow import DataChoice, open_data

    try:
        choice = DataChoice(sample=args.sample, path=args.data, modality=args.modality, label_column=args.label_column,
                            options=_key_values(args.data_option, "--data-option"))
        dataset, label_column = open_data(choice)
        config = RunConfig(labels_per_class=args.labels_per_class, max_pretrain_steps=args.steps,
                           pretrain_epochs=ADVICE_EPOCHS,
                           batch_size=args.batch_size, seed=args.seed, device=args.device, label_column=label_column)
        context = RunContext(dataset=dataset, labels=dataset.label_column(label_column),
                             device=select_device(config.device))
        advice = None
        for event in advise(config, context, folds=args.folds):
            if isinstance(event, Log):
                print(event.message, file=sys.stderr)
            elif isinstance(event, Finished):
                advice = event.result.extras["advice"]
    except (DataError, KeyError, ValueError) as error:
        print(f"error: {_error_text(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return 130
    print(advice.table())
    if advice.top is not None:
        print(f"Top pick: {advice.top.name}")
    return 0


def cmd_gui(sample: str | None, project: str | None) -> int:
    from sslstudio.gui.app import run_app

    return run_app(sample=sample, project=project)


def main(argv: list[str] | None = None) -> int:
    from sslstudio.log import configure_logging

    # torch_geometric still calls torch.jit.script at import (PyTorch 2.14 deprecates it); users cannot act on it.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
    args = build_parser().parse_args(argv)
    log_file = configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    logger.info("sslstudio %s (log file %s)", args.command or "gui", log_file)
    if args.self_test:
        from sslstudio.gui.self_test import run_self_test

        return run_self_test()
    if args.command == "samples":
        return cmd_samples()
    if args.command == "tasks":
        return cmd_tasks(args.modality)
    if args.command in {"run", "train"}:
        return cmd_run(args)
    if args.command == "predict":
        return cmd_predict(args)
    if args.command == "labels":
        return cmd_labels(args)
    if args.command == "advise":
        return cmd_advise(args)
    return cmd_gui(getattr(args, "sample", None), getattr(args, "project", None))


if __name__ == "__main__":
    sys.exit(main())
