"""The robust recipe's data: photo-like digits and non-digits made while training.

Batches come from :class:`cnnedge.train._samples.Samples` through ``tf.data``: a parallel
map turns batch numbers into batches, each made in a pool of worker processes (drawing
photos is Python and OpenCV work that threads would serialize on the interpreter lock), so
the next batches are being made while the model trains on this one. A batch depends only
on the run's seed and its number, so a seeded run is repeatable and a resumed run continues
with the batches it would have had.

A fixed set of photographed MNIST *test* digits and rendered non-digits is scored after
every epoch, for the record only (it never chooses a checkpoint): how many photographed
digits are read, and how many non-digits are answered "not a digit".
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnedge.data import Digits
from cnnedge.train._samples import NOT_A_DIGIT, SampleMix, Samples

__all__ = [
    "LEARNING_RATES",
    "ROBUST_EPOCHS",
    "RobustData",
    "compile_robust",
    "nondigit_frames",
    "photo_check",
    "robust_data",
    "robust_steps",
]

#: Epochs of the robust recipe: each shows the model every MNIST training digit once
#: (plain or photographed) and a third as many non-digits.
ROBUST_EPOCHS = 16
#: Adam's learning rate falls from the first to the second along a cosine over the run:
#: the photos vary so much that a constant rate keeps the weights moving to the end.
LEARNING_RATES = (1e-3, 2e-5)
#: Size of the fixed photo check (digits and non-digits each).
CHECK_SIZE = 1000
#: Seeds far from any training batch's.
CHECK_SEED = 7_777_777
_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class RobustData:
    """What ``model.fit`` needs for the robust recipe; ``close()`` stops its workers."""

    dataset: Any  # tf.data.Dataset of (float images (N, 28, 28, 1), labels)
    steps_per_epoch: int
    pool: Any

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


# The worker processes' sample maker, set once by _start_worker.
_SAMPLES: Samples | None = None


def _start_worker(images: np.ndarray, labels: np.ndarray, mix: SampleMix) -> None:
    global _SAMPLES
    import cv2

    # Ctrl-C is the trainer's to handle (it keeps the last epoch); one OpenCV thread per
    # worker, since the workers already fill the cores.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    _SAMPLES = Samples(images, labels, mix=mix)


def _make_batch(seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if _SAMPLES is None:  # pragma: no cover - the pool's initializer sets it
        raise RuntimeError("worker not started")
    return _SAMPLES.weighted_batch(seed, size)


def robust_data(
    digits: Digits,
    *,
    batch_size: int,
    epochs: int,
    initial_epoch: int,
    seed: int | None,
    mix: SampleMix | None = None,
) -> RobustData:
    """The batches of epochs ``initial_epoch`` .. ``epochs`` as one ``tf.data`` pipeline."""
    import tensorflow as tf

    mix = mix or SampleMix()
    steps = robust_steps(len(digits.y_train), batch_size, mix=mix)
    base = (seed if seed is not None else int(time.time_ns() % 1_000_000)) * _SEED_STRIDE
    workers = max(1, os.cpu_count() or 1)
    # Spawned, not forked: TensorFlow's threads are running in this process.
    pool = multiprocessing.get_context("spawn").Pool(
        workers, initializer=_start_worker, initargs=(digits.x_train, digits.y_train, mix)
    )

    def make(step: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pool.apply(_make_batch, (base + int(step), batch_size))

    def to_model(frames: Any, labels: Any, weights: Any) -> tuple[Any, Any, Any]:
        images = tf.cast(frames, tf.float32)[..., None] / 255.0
        images.set_shape((None, 28, 28, 1))
        labels.set_shape((None,))
        weights.set_shape((None,))
        return images, labels, weights

    dataset = (
        tf.data.Dataset.range(initial_epoch * steps, epochs * steps)
        .map(
            lambda step: tf.numpy_function(make, [step], (tf.uint8, tf.int64, tf.float32)),
            num_parallel_calls=workers + 1,
            deterministic=True,
        )
        .map(to_model)
        .prefetch(2)
    )
    return RobustData(dataset, steps, pool)


def robust_steps(images: int, batch_size: int, *, mix: SampleMix | None = None) -> int:
    """Batches per epoch: every training digit once, plus the non-digits' share."""
    share = (mix or SampleMix()).nondigit
    return max(1, int(np.ceil(images / (1 - share) / batch_size)))


def compile_robust(model: Any, *, total_steps: int) -> None:
    """Compile ``model`` for the robust recipe: Adam with a cosine learning-rate decay
    over ``total_steps`` (the notebook's loss and metric)."""
    import keras

    start, end = LEARNING_RATES
    schedule = keras.optimizers.schedules.CosineDecay(
        start, decay_steps=max(1, total_steps), alpha=end / start
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def nondigit_frames(count: int, *, digits: np.ndarray, seed: int) -> np.ndarray:
    """``count`` frames of rendered non-digits as the finder frames them, always the same
    for the same seed (``digits``: MNIST images, for pieces and pairs)."""
    import cv2

    cv2.setNumThreads(1)
    samples = Samples(digits, np.zeros(len(digits), np.int64))
    rng = np.random.default_rng(seed)
    return np.stack([samples.nondigit(rng) for _ in range(count)])


def check_set(digits: Digits, *, size: int = CHECK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Photographed MNIST test digits then non-digits (frames, labels), always the same."""
    import cv2

    cv2.setNumThreads(1)
    samples = Samples(digits.x_test, digits.y_test, mix=SampleMix(nondigit=0.0, plain=0.0))
    rng = np.random.default_rng(CHECK_SEED)
    frames: list[np.ndarray]
    frames, labels = [], []
    index = 0
    while len(frames) < size and index < 20 * size:
        # Only the digits the photos left legible: the rest are not in training either.
        frame, _ = samples.photographed(index % len(digits.y_test), rng)
        if frame is not None:
            frames.append(frame)
            labels.append(int(digits.y_test[index % len(digits.y_test)]))
        index += 1
    for _ in range(size):
        frames.append(samples.nondigit(rng))
        labels.append(NOT_A_DIGIT)
    return np.stack(frames), np.array(labels)


def photo_check(digits: Digits) -> Any:
    """A Keras callback adding ``photo_accuracy`` (photographed test digits read right) and
    ``reject_rate`` (non-digits answered "not a digit") to each epoch's logs."""
    import keras

    frames, labels = check_set(digits)
    x = frames.astype(np.float32)[..., None] / 255.0
    is_digit = labels != NOT_A_DIGIT

    class PhotoCheck(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            predicted = np.argmax(self.model.predict(x, verbose=0, batch_size=500), axis=1)
            right = predicted == labels
            if logs is not None:
                logs["photo_accuracy"] = float(right[is_digit].mean())
                logs["reject_rate"] = float(right[~is_digit].mean())

    return PhotoCheck()
