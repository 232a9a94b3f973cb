"""Strategies by name and the runner that records their events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from sslstudio.training.config import RunConfig
from sslstudio.training.context import Cancelled, PretrainingDone, RunContext
from sslstudio.training.events import Finished, Log, Progress, RunResult
from sslstudio.training.records import MetricsLog
from sslstudio.training.strategies import feature_extraction, multitask, proxy, transfer

logger = logging.getLogger(__name__)

StrategyFunction = Callable[[RunConfig, RunContext], Iterator]

STRATEGY_FUNCTIONS: dict[str, StrategyFunction] = {
    "transfer": transfer.run,
    "feature-extraction": feature_extraction.run,
    "multitask": multitask.run,
    "proxy": proxy.run,
}

# Strategies whose long phase is ``loop.pretrain``, which DistributedDataParallel spreads over ranks;
# fine-tuning on the few labels then runs on rank 0 alone.
DISTRIBUTED_STRATEGIES = ("transfer", "feature-extraction")


def run_strategy(config: RunConfig, context: RunContext) -> Iterator:
    """Run the configured strategy, write ``metrics.csv`` in the run folder, and end with ``Finished``.

    A cancel yields ``Finished`` with status ``cancelled``; other errors propagate.
    """
    if config.strategy not in STRATEGY_FUNCTIONS:
        available = ", ".join(sorted(STRATEGY_FUNCTIONS))
        raise ValueError(f"strategy {config.strategy!r} is not available yet; available: {available}")
    if context.distributed.enabled and config.strategy not in DISTRIBUTED_STRATEGIES:
        raise ValueError(f"strategy {config.strategy!r} runs on one process; under torchrun choose one of "
                         f"{', '.join(DISTRIBUTED_STRATEGIES)}")
    write_log = context.run_dir is not None and context.distributed.is_main
    log = MetricsLog(context.run_dir / "metrics.csv") if write_log else None
    try:
        for event in STRATEGY_FUNCTIONS[config.strategy](config, context):
            if isinstance(event, Progress) and log is not None:
                log.write(event)
            if isinstance(event, Log):
                logger.info("%s", event.message)
            if isinstance(event, Finished):
                event.result.run_dir = context.run_dir
            yield event
    except PretrainingDone:
        yield Finished(RunResult(status="pretrained", run_dir=context.run_dir))
    except Cancelled:
        logger.info("Run cancelled by the user")
        yield Log("Run cancelled", level="warning")
        yield Finished(RunResult(status="cancelled", run_dir=context.run_dir))
    finally:
        if log is not None:
            log.close()
