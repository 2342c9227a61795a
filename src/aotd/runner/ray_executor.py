"""``--executor ray``: the same stage as Ray actors, for datasets that outgrow one machine.

Each actor builds the stage once (models loaded once per actor) and processes items sent to it;
the driver keeps two items in flight per actor and writes each record as it comes back, so
resuming, sharding and the output file behave exactly as with local workers. The cluster is
``RAY_ADDRESS`` when set (``ray start --head`` on one machine, ``ray start --address`` on the
others, aotd installed on all), else a local one with ``workers`` CPUs. An actor that dies is
replaced and its item recorded as failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from aotd.errors import AotdError
from aotd.runner.stage import Emit, Stage, guarded


class _StageActor:
    def __init__(self, stage: Stage) -> None:
        import torch

        torch.set_num_threads(1)
        stage.setup()
        self.stage = stage

    def ready(self) -> bool:
        return True

    def process(self, item: Any) -> Any:
        return guarded(self.stage, item)


def run_on_ray(stage: Stage, todo: list[Any], workers: int, emit: Emit) -> None:
    try:
        import ray
        from ray.exceptions import RayActorError, RayTaskError
    except ImportError:
        raise AotdError("--executor ray needs Ray: pip install 'aotd[ray]' (or pip install ray)") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address or None, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
        if not address:
            _reap_with_this_run(ray)
    actor_cls = ray.remote(num_cpus=1)(_StageActor)
    actors = [actor_cls.remote(stage) for _ in range(workers)]
    try:  # a stage that cannot be set up fails every item: stop here and say why, once
        ray.get([a.ready.remote() for a in actors])
    except (RayActorError, RayTaskError) as exc:
        raise AotdError(f"Ray workers could not set up the {stage.name} stage (is aotd installed on every node?): "
                        f"{str(exc).splitlines()[-1]}") from None
    deaths = 0
    queue = iter(todo)
    pending: dict[Any, tuple[int, Any]] = {}

    def submit(slot: int) -> None:
        item = next(queue, None)
        if item is not None:
            pending[actors[slot].process.remote(item)] = (slot, item)

    for slot in range(len(actors)):
        submit(slot)
        submit(slot)
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        slot, item = pending.pop(ref)
        try:
            result, crashed = ray.get(ref)
        except RayActorError as exc:
            deaths += 1
            if deaths > 3 * workers:
                raise AotdError(f"Ray actors keep dying ({deaths} so far), last on sample {stage.key(item)}: "
                                f"{str(exc).splitlines()[0]}; the records written so far are kept") from None
            result, crashed = (stage.failed(item, f"ray actor died: {str(exc).splitlines()[0]}"), {}), True
            actors[slot] = actor_cls.remote(stage)
        except RayTaskError as exc:
            result, crashed = (stage.failed(item, f"ray task failed: {exc}"), {}), True
        emit(item, result, crashed)
        submit(slot)
    for actor in actors:
        ray.kill(actor)


_REAPERS: list[subprocess.Popen[bytes]] = []  # kept open (and so alive) as long as this process


def _reap_with_this_run(ray: Any) -> None:
    """A local cluster's processes die with this run, even on SIGKILL (``aotd.orphans.reap_session``)."""
    session = ray._private.worker._global_node.get_session_dir_path()  # the one marker all its processes carry
    _REAPERS.append(subprocess.Popen([sys.executable, "-c", "from aotd.orphans import reap_session; reap_session()",
                                      session], stdin=subprocess.PIPE, close_fds=True))
