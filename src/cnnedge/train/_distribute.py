"""Training on several devices or machines with ``tf.distribute``.

``mirrored`` copies the model onto every local GPU (or, without GPUs, every logical CPU
device: see :func:`split_cpu`) and splits each batch between them. ``multiworker`` does the
same across processes or machines, each started with the standard ``TF_CONFIG`` naming the
cluster and its own place in it. Either way ``batch_size`` is the *global* batch: each of N
replicas trains on ``batch_size / N`` images of it, and the gradients are summed, so one
step means the same as in a single-device run.

Only the chief (worker 0) writes the run folder; the other workers write theirs into a
scratch folder that is removed when training ends, as ``tf.distribute`` expects for
checkpoints (every worker saves, so that collective operations stay in step).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnedge.errors import ArgumentError

__all__ = ["split_cpu"]

#: The ``--distribute`` choices.
STRATEGIES = ("mirrored", "multiworker")


@dataclass(frozen=True)
class Distribution:
    """A ``tf.distribute`` strategy and this process's place in it."""

    name: str
    strategy: Any
    #: Replicas in step over the whole cluster; each gets ``batch_size / replicas`` images.
    replicas: int
    workers: int
    #: This process's index among the workers (0, the chief, writes the run folder).
    worker: int

    @property
    def is_chief(self) -> bool:
        return self.worker == 0

    def prepare(self, model: Any) -> None:
        """Build ``model``'s metrics and optimizer state before ``fit``, from one batch of
        zeros of the digits' shape.

        Keras 3 (up to at least 3.15) builds them from the first batch of the training
        data, averaged over the replicas with ``strategy.reduce``, which cannot reduce
        across workers outside a step and fails under ``MultiWorkerMirroredStrategy``.
        Built beforehand, fit finds nothing left to build. The figures of each step are
        averaged over every replica of every worker (:func:`_mean_over_workers`).
        """
        if self.name != "multiworker":
            return
        _mean_over_workers()
        import numpy as np

        from cnnedge.train.model import INPUT_SHAPE

        batch = (np.zeros((1, *INPUT_SHAPE), np.float32), np.zeros((1,), np.int64))
        model._maybe_symbolic_build(data_batch=batch)
        model._maybe_symbolic_build = _built

    def describe(self) -> dict[str, Any]:
        """What ``report.json`` records of it."""
        return {"strategy": self.name, "replicas": self.replicas, "workers": self.workers}


@contextlib.contextmanager
def running(dist: Distribution | None) -> Iterator[Path | None]:
    """Inside ``dist``'s strategy scope (models made there are mirrored and trained by it),
    yielding the scratch folder a worker other than the chief writes instead of the run
    folder (removed afterwards), or None."""
    if dist is None:
        yield None
        return
    with dist.strategy.scope():
        if dist.is_chief:
            yield None
            return
        scratch = Path(tempfile.mkdtemp(prefix=f"cnnedge-worker{dist.worker}-"))
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _mean_over_workers() -> None:
    """Make Keras 3 average a step's figures (loss, accuracy) over all replicas of all
    workers, as it does over local devices.

    Keras (up to at least 3.15) averages them under ``MultiWorkerMirroredStrategy`` with
    ``strategy.reduce("MEAN", value, axis=0)``, and the figures are scalars: the step
    fails ("Invalid reduction dimension 0 for input with 0 dimensions"). The mean over
    replicas (``axis=None``) is what it means; other reductions are left to Keras.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = getattr(trainer.reduce_per_replica, "__wrapped__", trainer.reduce_per_replica)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda v: (
                    strategy.reduce("MEAN", v, axis=None)
                    if trainer._is_per_replica_instance(v)
                    else v
                ),
                values,
            )
        return original(values, strategy, reduction)

    reduce_per_replica.__wrapped__ = original  # type: ignore[attr-defined]
    trainer.reduce_per_replica = reduce_per_replica


def _built(iterator: Any = None, data_batch: Any = None) -> None:
    """What a prepared model's ``_maybe_symbolic_build`` becomes: nothing left to build."""


def distribution(name: str | None) -> Distribution | None:
    """The strategy called ``name`` (None: train on one device, as without this module).

    Raises :class:`ArgumentError` for an unknown name, or for ``multiworker`` without a
    usable ``TF_CONFIG``.
    """
    if name is None:
        return None
    if name not in STRATEGIES:
        raise ArgumentError(
            f"unknown distribution {name!r}; choose one of {', '.join(STRATEGIES)}."
        )
    workers, worker = _cluster() if name == "multiworker" else (1, 0)
    import tensorflow as tf

    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution(name, strategy, strategy.num_replicas_in_sync, 1, 0)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution(name, strategy, strategy.num_replicas_in_sync, workers, worker)


def _cluster() -> tuple[int, int]:
    """The number of workers and this one's index, from ``TF_CONFIG``."""
    raw = os.environ.get("TF_CONFIG", "")
    example = (
        'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}\''
    )
    if not raw:
        raise ArgumentError(
            "--distribute multiworker needs TF_CONFIG naming the workers and this one's "
            f"index, on every machine, for example {example}"
        )
    try:
        config = json.loads(raw)
        workers = list(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArgumentError(
            f"TF_CONFIG is not a cluster description ({exc}); set it like {example}"
        ) from exc
    if task.get("type", "worker") not in ("worker", "chief") or not 0 <= index < len(workers):
        raise ArgumentError(
            f"TF_CONFIG's task {task} is not one of its {len(workers)} workers; set it like "
            f"{example}"
        )
    return len(workers), index


def split_cpu(devices: int) -> None:
    """Split the CPU into ``devices`` logical devices, so ``mirrored`` runs that many
    replicas without GPUs (to try a distributed run, or test one, on a laptop).

    Call before TensorFlow runs anything. Raises :class:`ArgumentError` if it already did.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
        )
    except RuntimeError as exc:
        raise ArgumentError(
            "the CPU can only be split before TensorFlow starts; call split_cpu first"
        ) from exc
