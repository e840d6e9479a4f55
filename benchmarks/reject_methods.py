"""Which way should the robust model say "not a digit"? An eleventh output, or outlier exposure.

    nice -n 15 python benchmarks/reject_methods.py [--epochs 4] [--seed 0] [--limit N]
                                                   [--held-out 5000] [--held-out-seed 4242]
                                                   [--out benchmarks/results] [--keep DIR]

Two models are trained on the same data stream: the robust recipe's batches
(``cnnedge.train._robust.robust_data``: MNIST training digits, plain or photographed and
framed by the edge finder, and rendered non-digits), made once with the same seed and fed
to both in the same order, with the same optimizer, learning-rate schedule, epochs and
initial weights (the same seed before building), and the same network apart from its head:

- ``reject-class``: the recipe itself, 11 outputs, the non-digits labelled "not a digit"
  (sparse cross-entropy). It rejects when p(not a digit) is above a threshold (the runner's
  own rule is "when it is the largest output").
- ``outlier-exposure`` (Hendrycks et al., 2019): 10 outputs, digits trained on their label,
  non-digits towards the uniform distribution (cross-entropy to soft targets, the
  non-digits weighted ``--oe-weight`` against the digits). It rejects when the top
  probability is below a threshold.

Both are measured on the same held-out sets: MNIST's test set, photographed MNIST *test*
digits and rendered non-digits (made like the recipe's photo check, with their own seed),
and letters in fonts the recipe never draws (``photo_digits.py``'s ``letter-unseen-font``,
framed by the finder). The comparison is the rejection curve (non-digits rejected against
photographed digits wrongly rejected) and the operating points that wrongly reject 1% and
2% of photographed digits (thresholds chosen on the photographed digits themselves; where
many share one output, as outlier exposure's do, that share of them is rejected at random).

Writes ``reject_methods.md``, ``.json`` and ``.png`` to ``--out``. The stream is made by a
pool of worker processes on all cores; run it under ``nice`` on a shared machine.
A smoke run: ``--epochs 1 --limit 2000 --held-out 300 --out /tmp/reject``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
METHODS = ("reject-class", "outlier-exposure")
LABELS = {
    "reject-class": '11 outputs ("not a digit" class)',
    "outlier-exposure": "10 outputs, outlier exposure",
}
#: Photographed digits wrongly rejected at the operating points compared (share).
OPERATING_POINTS = (0.01, 0.02)
#: The rows of the curve's table.
CURVE_ROWS = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)


@dataclass(frozen=True)
class Stream:
    """The recipe's batches, in order: uint8 frames (steps, batch, 28, 28), labels 0-10."""

    frames: np.ndarray
    labels: np.ndarray
    steps_per_epoch: int
    seconds: float


@dataclass(frozen=True)
class HeldOut:
    """Held-out frames: MNIST test, photographed test digits, non-digits, unseen letters."""

    mnist: tuple[np.ndarray, np.ndarray]
    photos: tuple[np.ndarray, np.ndarray]
    nondigits: np.ndarray
    unseen: np.ndarray
    seconds: float


# ---------------------------------------------------------------------------------------
# Data


def make_stream(digits: Any, *, epochs: int, seed: int) -> Stream:
    """Every batch the robust recipe would train on for ``epochs`` epochs with ``seed``."""
    from cnnedge.train._robust import robust_data

    t0 = time.perf_counter()
    data = robust_data(digits, batch_size=BATCH, epochs=epochs, initial_epoch=0, seed=seed)
    frames, labels = [], []
    try:
        for i, (x, y) in enumerate(data.dataset.as_numpy_iterator()):
            # The pipeline hands uint8/255 floats: rounding gives the bytes back exactly.
            frames.append(np.rint(x[..., 0] * 255.0).astype(np.uint8))
            labels.append(y.astype(np.int64))
            if (i + 1) % data.steps_per_epoch == 0:
                took = time.perf_counter() - t0
                print(f"stream: epoch {(i + 1) // data.steps_per_epoch} made ({took:.0f} s)")
    finally:
        data.close()
    return Stream(
        np.stack(frames), np.stack(labels), data.steps_per_epoch, time.perf_counter() - t0
    )


def make_held_out(digits: Any, *, size: int, seed: int) -> HeldOut:
    """Photographed MNIST test digits and non-digits made like the recipe's photo check
    (:func:`cnnedge.train._robust.check_set`) with ``seed``, and ``size // 5`` letters in
    fonts the recipe never uses."""
    import cv2

    from cnnedge.train._samples import SampleMix, Samples

    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    samples = Samples(digits.x_test, digits.y_test, mix=SampleMix(nondigit=0.0, plain=0.0))
    rng = np.random.default_rng(seed)
    indices = rng.permutation(len(digits.y_test))[:size]
    photos = np.stack([samples.photographed(int(i), rng)[0] for i in indices])
    nondigits = np.stack([samples.nondigit(rng) for _ in range(size)])
    unseen = unseen_letters(max(10, size // 5), digits.x_test, samples.fonts, seed=seed + 1)
    return HeldOut(
        mnist=(digits.x_test, digits.y_test.astype(np.int64)),
        photos=(photos, digits.y_test[indices].astype(np.int64)),
        nondigits=nondigits,
        unseen=unseen,
        seconds=time.perf_counter() - t0,
    )


def unseen_letters(count: int, digits: np.ndarray, fonts: Any, *, seed: int) -> np.ndarray:
    """Frames the finder makes of photographed letters in fonts the recipe never draws
    (the biggest candidate that is not a tall stroke, as for the recipe's non-digits)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import photo_digits

    from cnnedge.edge.preprocess import find_candidates
    from cnnedge.train._samples import looks_like_a_one

    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []
    while len(frames) < count:
        image = photo_digits.nondigit("letter-unseen-font", rng, tuple(fonts), digits)
        found = [c.frame for c in find_candidates(image) if not looks_like_a_one(c.frame)]
        if found:
            frames.append(found[0])
    return np.stack(frames)


# ---------------------------------------------------------------------------------------
# Training


def train_method(
    method: str, stream: Stream, *, epochs: int, seed: int, oe_weight: float
) -> tuple[Any, list[float]]:
    """One model trained on ``stream`` as the recipe trains; seconds per epoch."""
    import keras
    import tensorflow as tf

    from cnnedge.train._robust import compile_robust
    from cnnedge.train.model import NUM_CLASSES, ROBUST_CLASSES, build_model
    from cnnedge.train.trainer import _seed

    _seed(seed, 0)  # what `cnnedge train --seed` does before building the model
    outlier_exposure = method == "outlier-exposure"
    model = build_model(classes=NUM_CLASSES if outlier_exposure else ROBUST_CLASSES)
    compile_robust(model, total_steps=stream.steps_per_epoch * epochs)
    if outlier_exposure:
        # The recipe's optimizer and schedule, a loss on soft targets.
        model.compile(optimizer=model.optimizer, loss=keras.losses.CategoricalCrossentropy())

    def to_model(frames: Any, labels: Any) -> tuple[Any, ...]:
        images = tf.cast(frames, tf.float32)[..., None] / 255.0
        if not outlier_exposure:
            return images, labels
        nondigit = tf.equal(labels, 10)[:, None]
        uniform = tf.fill(tf.shape(nondigit), 1.0 / NUM_CLASSES)
        targets = tf.where(nondigit, uniform, tf.one_hot(labels, NUM_CLASSES))
        weights = tf.where(nondigit[:, 0], oe_weight, 1.0)
        return images, targets, weights

    dataset = tf.data.Dataset.from_tensor_slices((stream.frames, stream.labels)).map(to_model)
    timer = EpochTimer()
    model.fit(
        dataset.prefetch(2),
        epochs=epochs,
        steps_per_epoch=stream.steps_per_epoch,
        callbacks=[timer],
        verbose=2,
    )
    return model, timer.seconds


class EpochTimer:
    """Seconds per epoch, as a Keras callback (made lazily so Keras loads only here)."""

    def __new__(cls) -> Any:
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self._t0 = 0.0

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                self.seconds.append(round(time.perf_counter() - self._t0, 1))

        return _Timer()


# ---------------------------------------------------------------------------------------
# Measuring


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


#: Rejection scores (higher: reject), from float64 logits; each method's first is its own
#: (the one the comparison uses), the others show the conclusion does not hang on it.
SCORES: dict[str, dict[str, Any]] = {
    "reject-class": {
        "p(not a digit)": lambda z: softmax(z)[:, 10],
        "1 - top digit probability": lambda z: 1.0 - softmax(z)[:, :10].max(axis=1),
    },
    "outlier-exposure": {
        "1 - top probability": lambda z: 1.0 - softmax(z).max(axis=1),
        "minus the top logit": lambda z: -z.max(axis=1),
        "energy (minus logsumexp of the logits)": lambda z: -logsumexp(z),
    },
}


@dataclass(frozen=True)
class Outputs:
    """A model's logits (float64) on one set, and which inputs switch off every unit of
    its first dense layer (the model then gives them all one and the same output)."""

    logits: np.ndarray
    collapsed: np.ndarray


def outputs(model: Any, frames: np.ndarray) -> Outputs:
    import keras

    x = frames.astype(np.float32)[..., None] / 255.0
    inner = keras.Model(
        model.inputs, [model.get_layer("dense1").output, model.get_layer("dense2").output]
    )
    first, last = inner.predict(x, batch_size=500, verbose=0)
    kernel, bias = model.get_layer("probabilities").get_weights()
    logits = last.astype(np.float64) @ kernel.astype(np.float64) + bias
    # The logits are recomputed in float64 so that near-uniform outputs keep their order;
    # they must still be the model's own.
    if not np.allclose(softmax(logits[:64]), model.predict(x[:64], verbose=0), atol=1e-5):
        raise RuntimeError("the network's layers are not the ones this benchmark expects")
    return Outputs(logits, first.max(axis=1) <= 0)


@dataclass(frozen=True)
class Cut:
    """Reject scores above ``threshold``, and at random a ``tie_share`` of those exactly
    at it: a rate can then be met exactly even when many inputs share one output."""

    threshold: float
    tie_share: float

    def weights(self, scores: np.ndarray) -> np.ndarray:
        """Each input's chance of being rejected."""
        return (scores > self.threshold) + self.tie_share * (scores == self.threshold)


def cut_for(digit_scores: np.ndarray, share: float) -> Cut:
    """The cut that rejects ``share`` of the digits."""
    n = len(digit_scores)
    target = share * n
    threshold = np.sort(digit_scores)[::-1][min(n - 1, math.floor(target))]
    above = np.count_nonzero(digit_scores > threshold)
    at = np.count_nonzero(digit_scores == threshold)
    return Cut(float(threshold), float(np.clip((target - above) / at, 0.0, 1.0)))


def auroc(digit_scores: np.ndarray, other_scores: np.ndarray) -> float:
    """Chance that a non-digit scores higher than a digit (ties count half)."""
    ordered = np.sort(digit_scores)
    below = np.searchsorted(ordered, other_scores, side="left")
    equal = np.searchsorted(ordered, other_scores, side="right") - below
    return float((below + 0.5 * equal).mean() / len(ordered))


def point(cut: Cut, scores: dict[str, np.ndarray], right: dict[str, np.ndarray]) -> dict:
    """The figures at one cut (shares are expected values when ties are split)."""
    kept = {k: 1.0 - cut.weights(v) for k, v in scores.items()}
    return {
        "threshold": cut.threshold,
        "tie_share": cut.tie_share,
        "photos_at_threshold": int(np.count_nonzero(scores["photos"] == cut.threshold)),
        "nondigits_at_threshold": int(np.count_nonzero(scores["nondigits"] == cut.threshold)),
        "photo_wrongly_rejected": float(1.0 - kept["photos"].mean()),
        "photo_read_right": float((right["photos"] * kept["photos"]).mean()),
        "photo_misread": float((~right["photos"] * kept["photos"]).mean()),
        "nondigits_rejected": float(1.0 - kept["nondigits"].mean()),
        "unseen_letters_rejected": float(1.0 - kept["unseen"].mean()),
        "mnist_accuracy": float((right["mnist"] * kept["mnist"]).mean()),
        "mnist_rejected": float(1.0 - kept["mnist"].mean()),
    }


def measure(method: str, model: Any, held: HeldOut) -> dict[str, Any]:
    """Every figure of one model on the held-out sets."""
    sets = {
        "mnist": held.mnist[0],
        "photos": held.photos[0],
        "nondigits": held.nondigits,
        "unseen": held.unseen,
    }
    out = {name: outputs(model, frames) for name, frames in sets.items()}
    right = {
        name: np.argmax(out[name].logits[:, :10], axis=1) == labels
        for name, labels in (("mnist", held.mnist[1]), ("photos", held.photos[1]))
    }
    by_score = {
        name: {k: score(o.logits) for k, o in out.items()} for name, score in SCORES[method].items()
    }
    own, scores = next(iter(by_score.items()))
    result: dict[str, Any] = {
        "label": LABELS[method],
        "params": int(model.count_params()),
        "score": own,
        "mnist_accuracy": float(right["mnist"].mean()),
        "photo_accuracy": float(right["photos"].mean()),
        "auroc": auroc(scores["photos"], scores["nondigits"]),
        "auroc_unseen_letters": auroc(scores["photos"], scores["unseen"]),
        "collapsed": {k: float(o.collapsed.mean()) for k, o in out.items()},
        "operating_points": {
            f"{x:g}": point(cut_for(scores["photos"], x), scores, right) for x in OPERATING_POINTS
        },
        "curve_rows": {
            f"{x:g}": point(cut_for(scores["photos"], x), scores, right) for x in CURVE_ROWS
        },
        "scores": {
            name: {
                "auroc": auroc(s["photos"], s["nondigits"]),
                "nondigits_rejected": {
                    f"{x:g}": float(cut_for(s["photos"], x).weights(s["nondigits"]).mean())
                    for x in OPERATING_POINTS
                },
            }
            for name, s in by_score.items()
        },
        "curve": curve(scores["photos"], scores["nondigits"]),
    }
    if method == "reject-class":
        result["runner_rule"] = runner_rule(out, right)
    else:
        result["top_probability_at"] = {
            k: 1.0 - v["threshold"] for k, v in result["operating_points"].items()
        }
    return result


def runner_rule(out: dict[str, Outputs], right: dict[str, np.ndarray]) -> dict[str, float]:
    """The 11-output model judged as the edge runner judges it: "not a digit" when that
    output is the largest."""
    refused = {name: np.argmax(o.logits, axis=1) == 10 for name, o in out.items()}
    return {
        "photo_wrongly_rejected": float(refused["photos"].mean()),
        "photo_read_right": float((right["photos"] & ~refused["photos"]).mean()),
        "nondigits_rejected": float(refused["nondigits"].mean()),
        "unseen_letters_rejected": float(refused["unseen"].mean()),
        "mnist_accuracy": float((right["mnist"] & ~refused["mnist"]).mean()),
    }


def curve(digit_scores: np.ndarray, other_scores: np.ndarray) -> list[list[float]]:
    """(digits wrongly rejected, non-digits rejected), rejecting scores at or above
    thresholds spaced evenly on a log scale of the digits rejected, from (0, 0) to (1, 1);
    a straight line between two points is what splitting ties gives."""
    ordered = np.sort(digit_scores)[::-1]
    counts = np.unique(np.geomspace(1, len(ordered), 300).round().astype(int))
    points = {(0.0, 0.0), (1.0, 1.0)}
    for t in np.unique(ordered[counts - 1]):
        points.add(
            (
                round(float((digit_scores >= t).mean()), 5),
                round(float((other_scores >= t).mean()), 5),
            )
        )
    return [list(p) for p in sorted(points)]


# ---------------------------------------------------------------------------------------
# Reporting


def pct(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}%"


def margin(p: float, n: int) -> float:
    """Half the 95% interval of a share measured on ``n`` cases (normal approximation)."""
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / max(1, n))


def conclusion(result: dict[str, Any]) -> str:
    """Which method measures better, in words, from the figures."""
    a, b = (result["methods"][m] for m in METHODS)
    n = result["settings"]["held_out"]
    lines, gaps = [], []
    for share in OPERATING_POINTS:
        key = f"{share:g}"
        ra, rb = a["operating_points"][key], b["operating_points"][key]
        gap = ra["nondigits_rejected"] - rb["nondigits_rejected"]
        gaps.append(gap)
        lines.append(
            f"with {pct(share, 0)} of photographed digits wrongly rejected, the 11-output model "
            f"rejects {pct(ra['nondigits_rejected'], 1)} of non-digits and outlier exposure "
            f"{pct(rb['nondigits_rejected'], 1)} ({100 * gap:+.1f} points for the 11 outputs)"
        )
    better = METHODS[0] if np.mean(gaps) > 0 else METHODS[1]
    # Sampling noise of a difference of two shares of n (counted as independent, which
    # overstates it: both models see the same non-digits).
    key = f"{OPERATING_POINTS[0]:g}"
    shares = [m["operating_points"][key]["nondigits_rejected"] for m in (a, b)]
    noise = 100 * math.hypot(*(margin(p, n) for p in shares))
    firm = min(abs(g) for g in gaps) * 100 > noise and all(g * gaps[0] > 0 for g in gaps)
    verdict = (
        f"**{LABELS[better]} measures better**"
        if firm
        else f"**{LABELS[better]} is ahead, by less than the sets can tell apart**"
    )
    text = (
        f"{verdict}: {lines[0]}; {lines[1]}. MNIST test accuracy without rejection is "
        f"{pct(a['mnist_accuracy'])} (11 outputs) against {pct(b['mnist_accuracy'])} (outlier "
        f"exposure); AUROC {a['auroc']:.4f} against {b['auroc']:.4f}."
    )
    collapsed = b["collapsed"]
    if collapsed["nondigits"] >= 0.05:
        text += (
            " Outlier exposure learned to answer non-digits by switching off every unit of "
            "its first dense layer, which gives one fixed, nearly uniform output: "
            f"{pct(collapsed['nondigits'], 1)} of non-digits and {pct(collapsed['photos'], 1)} "
            "of photographed digits get exactly that output, and no threshold and no other "
            "score of the output can tell them apart."
        )
    return text + (
        f" Differences in a share of {n:,} non-digits below about {noise:.1f} points are "
        "within the sets' sampling noise (95%); training noise (one seed per method) comes "
        "on top."
    )


def _intro(result: dict[str, Any]) -> list[str]:
    from cnnedge._system import machine_lines

    s, t = result["settings"], result["timing"]
    a, b = (result["methods"][m] for m in METHODS)
    trained = ", ".join(
        f"training {m} {sum(t['train_seconds'][m]):.0f} s "
        f"({', '.join(f'{x:.0f}' for x in t['train_seconds'][m])} s per epoch)"
        for m in METHODS
    )
    return [
        '# Saying "not a digit": an eleventh output or outlier exposure',
        "",
        *machine_lines(result["machine"], result["versions"]),
        "",
        f"Both models: the robust recipe's data stream (seed {s['seed']}, {s['epochs']} epochs "
        f"of {s['steps_per_epoch']} batches of {BATCH}, {s['train_images']:,} MNIST training "
        f"digits, {pct(s['stream_nondigit_share'], 1)} of the samples non-digits), the same "
        "initial weights, optimizer and learning-rate schedule; the network differs only in "
        f"its head ({a['params']:,} against {b['params']:,} parameters). The 11-output model "
        f"is the one `cnnedge train --recipe robust --seed {s['seed']} --epochs {s['epochs']}` "
        "trains (the same weights, checked on a short run). Outlier exposure trains "
        f"non-digits towards the uniform distribution with weight {s['oe_weight']:g} "
        "(cross-entropy to soft targets). "
        f"Held out (seed {s['held_out_seed']}): MNIST's 10,000 test digits, "
        f"{s['held_out']:,} photographed MNIST test digits, {s['held_out']:,} rendered "
        f"non-digits, and {s['unseen_letters']:,} letters in fonts the recipe never draws.",
        "",
        f"Wall time {t['wall_seconds'] / 60:.1f} min (under `nice -n {t['niceness']}` on a "
        f"shared machine): stream {t['stream_seconds']:.0f} s, held-out sets "
        f"{t['held_out_seconds']:.0f} s, {trained}.",
        "",
        "## Conclusion",
        "",
        result["conclusion"],
    ]


def _threshold(method: str, p: dict[str, Any]) -> str:
    if method == "reject-class":
        text = f"p(not a digit) > {p['threshold']:.4f}"
    else:
        text = f"top p < {1 - p['threshold']:.4f}"
    if 0 < p["tie_share"] < 1 or p["photos_at_threshold"] > 1:
        text += (
            f" ({p['photos_at_threshold']} digits share that output; "
            f"{pct(p['tie_share'], 0)} of them rejected at random)"
        )
    return text


def _operating_points(result: dict[str, Any]) -> list[str]:
    a, b = (result["methods"][m] for m in METHODS)

    def row(name: str, fa: str, fb: str) -> str:
        return f"| {name} | {fa} | {fb} |"

    out = [
        "## At the operating points",
        "",
        "Thresholds chosen on the photographed digits so that 1% and 2% of them are rejected: "
        "on p(not a digit) for the 11 outputs, on the top probability for outlier exposure. "
        "Where several digits share the threshold's output, that share of them is rejected at "
        "random and the figures are expected values. Rejected MNIST digits count as wrong in "
        '"MNIST test, with rejection".',
        "",
        f"| | {a['label']} | {b['label']} |",
        "|---|---:|---:|",
        row("MNIST test accuracy, every digit counts", *(pct(m["mnist_accuracy"]) for m in (a, b))),
        row(
            "Photographed digits read right, no rejection",
            *(pct(m["photo_accuracy"]) for m in (a, b)),
        ),
        row("AUROC, photographed digits vs non-digits", *(f"{m['auroc']:.4f}" for m in (a, b))),
        row(
            "AUROC, photographed digits vs unseen-font letters",
            *(f"{m['auroc_unseen_letters']:.4f}" for m in (a, b)),
        ),
        row(
            "Non-digits / photographed digits with the first dense layer all off (one output)",
            *(
                f"{pct(m['collapsed']['nondigits'], 1)} / {pct(m['collapsed']['photos'], 1)}"
                for m in (a, b)
            ),
        ),
    ]
    for share in OPERATING_POINTS:
        pa, pb = (m["operating_points"][f"{share:g}"] for m in (a, b))
        out.append(
            row(
                f"**{pct(share, 0)} of photographed digits rejected:** threshold",
                _threshold(METHODS[0], pa),
                _threshold(METHODS[1], pb),
            )
        )
        for name, field in (
            ("non-digits rejected", "nondigits_rejected"),
            ("unseen-font letters rejected", "unseen_letters_rejected"),
            ("photographed digits read right", "photo_read_right"),
            ("photographed digits misread", "photo_misread"),
            ("MNIST test, with rejection", "mnist_accuracy"),
            ("MNIST test digits rejected", "mnist_rejected"),
        ):
            out.append(row(name, pct(pa[field]), pct(pb[field])))
    r = a["runner_rule"]
    return [
        *out,
        "",
        'The 11-output model as the edge runner judges it ("not a digit" when that output '
        f"is the largest): {pct(r['photo_wrongly_rejected'])} of photographed digits rejected, "
        f"{pct(r['nondigits_rejected'])} of non-digits and "
        f"{pct(r['unseen_letters_rejected'])} of unseen-font letters rejected, MNIST test "
        f"{pct(r['mnist_accuracy'])} (rejections count as wrong).",
    ]


def _curve(result: dict[str, Any]) -> list[str]:
    a, b = (result["methods"][m] for m in METHODS)
    return [
        "## The curve",
        "",
        "Non-digits rejected at thresholds that wrongly reject a given share of photographed "
        "digits (the full curve is in the JSON and `reject_methods.png`).",
        "",
        "| photographed digits wrongly rejected | "
        + " | ".join(f"{m['label']}: non-digits rejected" for m in (a, b))
        + " |",
        "|---:|---:|---:|",
        *(
            f"| {pct(float(k))} | {pct(a['curve_rows'][k]['nondigits_rejected'])} | "
            f"{pct(b['curve_rows'][k]['nondigits_rejected'])} |"
            for k in a["curve_rows"]
        ),
        "",
        "Other scores of the same outputs (non-digits rejected at the operating points):",
        "",
        "| model | score | AUROC | "
        + " | ".join(f"at {pct(x, 0)}" for x in OPERATING_POINTS)
        + " |",
        "|---|---|---:|" + "---:|" * len(OPERATING_POINTS),
        *(
            f"| {m['label']} | {name} | {v['auroc']:.4f} | "
            + " | ".join(pct(v["nondigits_rejected"][f"{x:g}"]) for x in OPERATING_POINTS)
            + " |"
            for m in (a, b)
            for name, v in m["scores"].items()
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            *_intro(result),
            "",
            *_operating_points(result),
            "",
            *_curve(result),
            "",
            f"Reproduce: `{result['command']}`",
        ]
    )


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for method in METHODS:
        points = np.array(result["methods"][method]["curve"])
        # Drawn straight between points on a linear scale (what splitting ties gives), not
        # on the log axis.
        x = np.geomspace(1e-3, 1.0, 400)
        y = np.interp(x, points[:, 0], points[:, 1])
        ax.plot(100 * x, 100 * y, label=LABELS[method])
    for share in OPERATING_POINTS:
        ax.axvline(100 * share, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(0.1, 100)
    ax.set_xlabel("photographed digits wrongly rejected (%)")
    ax.set_ylabel("non-digits rejected (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="the training stream's seed")
    parser.add_argument("--limit", type=int, default=None, help="MNIST training digits used")
    parser.add_argument("--held-out", type=int, default=5000, help="photos and non-digits each")
    parser.add_argument("--held-out-seed", type=int, default=4242)
    parser.add_argument("--oe-weight", type=float, default=1.0, help="non-digits' loss weight")
    parser.add_argument("--data", default=None, help="MNIST source (default: $CNNEDGE_MNIST)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--keep", type=Path, default=None, help="save both models here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    t0 = time.perf_counter()
    from cnnedge._system import machine_info, package_versions
    from cnnedge.data import load_mnist

    digits = load_mnist(args.data).limit(train=args.limit)
    stream = make_stream(digits, epochs=args.epochs, seed=args.seed)
    held = make_held_out(digits, size=args.held_out, seed=args.held_out_seed)
    print(f"held-out sets made ({held.seconds:.0f} s)", flush=True)
    methods, train_seconds = {}, {}
    for method in METHODS:
        model, seconds = train_method(
            method, stream, epochs=args.epochs, seed=args.seed, oe_weight=args.oe_weight
        )
        train_seconds[method] = seconds
        methods[method] = measure(method, model, held)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            model.save(args.keep / f"{method}.keras")
        print(f"{method}: trained and measured", flush=True)
    command = "nice -n 15 python benchmarks/reject_methods.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    result: dict[str, Any] = {
        "schema": "cnnedge.reject_methods/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command.strip(),
        "settings": {
            "epochs": args.epochs,
            "seed": args.seed,
            "limit": args.limit,
            "train_images": len(digits.y_train),
            "batch_size": BATCH,
            "steps_per_epoch": stream.steps_per_epoch,
            "stream_nondigit_share": float((stream.labels == 10).mean()),
            "held_out": args.held_out,
            "held_out_seed": args.held_out_seed,
            "unseen_letters": len(held.unseen),
            "oe_weight": args.oe_weight,
            "fonts": len(_fonts()),
        },
        "methods": methods,
        "timing": {
            "stream_seconds": round(stream.seconds, 1),
            "held_out_seconds": round(held.seconds, 1),
            "train_seconds": train_seconds,
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "niceness": os.nice(0),
        },
        "machine": machine_info(),
        "versions": package_versions(),
    }
    result["conclusion"] = conclusion(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reject_methods.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "reject_methods.md").write_text(markdown(result) + "\n")
    plot(result, args.out / "reject_methods.png")
    print(markdown(result))


def _fonts() -> tuple[Path, ...]:
    from cnnedge.train import _ink

    return tuple(_ink.handwriting_fonts())


if __name__ == "__main__":
    sys.exit(main())
