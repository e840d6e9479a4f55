"""Measure each speed lever of the speed work on its own, before and after, the same way.

    python benchmarks/levers.py --keras runs/reference/model.keras --out benchmarks/results

writes ``speed-levers.md`` and ``speed-levers.json``. A TensorFlow worker process converts the
Keras model once and writes one ONNX file per step of each lever chain (the plain tf2onnx
export, then one rewrite or setting more per step; plus the alternatives that were tried and
not kept) with each file's agreement with Keras on the MNIST test set. This process, free of
TensorFlow, then times every group of variants in interleaved rounds
(:func:`cnnedge.bench._timing.interleaved`): batch 1, one thread unless a table says
otherwise, the same input image, p50 over thousands of calls, with the load the other
processes put on the machine meanwhile. Rows of one table were timed together, so their
ratios are fair even on a busy machine; absolute figures move with the load.

A study of cnnedge's internals, not a user's measurement: it rebuilds what export does not
ship (the alternatives not kept, the runner before the speed work), so it imports the
export's private rewrites and switches off the classifier's bound batch-1 path. That is why
it lives here and not in the package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Variant", "main", "run_levers"]


#: One step of a lever chain, or an alternative to a step.
@dataclass(frozen=True)
class Variant:
    key: str
    precision: str  # fp32 | int8
    lever: str
    #: GraphOptions fields to turn on (all others off).
    graph: tuple[str, ...] = ()
    #: QuantizationSettings overrides (int8).
    quantization: dict[str, Any] = field(default_factory=dict)
    #: What export ships (True), what it did before (None), tried and not kept (False).
    kept: bool | None = True
    #: Extra rewrite for alternatives the GraphOptions cannot express.
    extra: str | None = None
    #: The row an alternative is compared with (chain steps: the step above).
    versus: str | None = None


FP32_CHAIN = (
    Variant("fp32-plain", "fp32", "plain tf2onnx export (cnnedge 0.1)", kept=None),
    Variant(
        "fp32-static-flatten",
        "fp32",
        "Flatten with a static shape instead of Shape/Gather/Cast/Slice/Concat/Cast/Reshape",
        ("static_flatten",),
    ),
    Variant(
        "fp32-fold-transpose",
        "fp32",
        "NHWC Transpose folded into the first Dense's weights",
        ("static_flatten", "fold_transpose"),
    ),
    Variant(
        "fp32-uint8",
        "fp32",
        "uint8 input, Cast inside, 1/255 folded into conv1's weights",
        ("static_flatten", "fold_transpose", "uint8_input", "fold_input_scale"),
    ),
)
FP32_ALTERNATIVES = (
    Variant(
        "fp32-uint8-div",
        "fp32",
        "alternative to the step above: uint8 input scaled by a Div node inside the graph",
        ("static_flatten", "fold_transpose", "uint8_input"),
        kept=False,
        versus="fp32-fold-transpose",
    ),
    Variant(
        "fp32-uint8-s2d",
        "fp32",
        "alternative: + conv1 as space-to-depth (the int8 rewrite) in fp32",
        ("static_flatten", "fold_transpose", "uint8_input", "fold_input_scale"),
        kept=False,
        extra="space_to_depth",
        versus="fp32-uint8",
    ),
)
_LEGACY = {"activation_type": "QInt8"}
INT8_CHAIN = (
    Variant(
        "int8-plain", "int8", "plain export, QDQ S8S8 per-channel (cnnedge 0.1)", (), _LEGACY, None
    ),
    Variant("int8-u8s8", "int8", "uint8 activations, int8 weights (U8S8)"),
    Variant(
        "int8-static-flatten",
        "int8",
        "Flatten with a static shape (NHWC Transpose kept: onnxruntime cancels it)",
        ("static_flatten",),
    ),
    Variant(
        "int8-space-to-depth",
        "int8",
        "conv1 + ReLU + 2x2 max pool as space-to-depth conv + max pool",
        ("static_flatten", "space_to_depth"),
    ),
    Variant(
        "int8-uint8",
        "int8",
        "uint8 input, Cast + QuantizeLinear inside",
        ("static_flatten", "space_to_depth", "uint8_input", "fold_input_scale"),
    ),
    Variant(
        "int8-direct",
        "int8",
        "uint8 pixels straight into the quantized graph (no Cast, no QuantizeLinear)",
        (
            "static_flatten",
            "space_to_depth",
            "uint8_input",
            "fold_input_scale",
            "direct_int8_input",
        ),
    ),
)
INT8_ALTERNATIVES = (
    Variant(
        "int8-u8s8-per-tensor",
        "int8",
        "alternative to U8S8 per-channel: per-tensor weights",
        (),
        {"per_channel": False},
        False,
        versus="int8-u8s8",
    ),
    Variant(
        "int8-u8s8-qoperator",
        "int8",
        "alternative to QDQ: QOperator format (QLinearConv, QGemm... written out), U8S8",
        (),
        {"quant_format": "QOperator"},
        False,
        versus="int8-u8s8",
    ),
    Variant(
        "int8-s8s8-qoperator",
        "int8",
        "alternative to QDQ: QOperator format, S8S8",
        (),
        {"quant_format": "QOperator", **_LEGACY},
        False,
        versus="int8-plain",
    ),
    Variant(
        "int8-fold-transpose",
        "int8",
        "alternative: NHWC Transpose folded into dense1 (as fp32) instead of kept",
        ("static_flatten",),
        kept=False,
        extra="fold_transpose",
        versus="int8-static-flatten",
    ),
)
VARIANTS = FP32_CHAIN + FP32_ALTERNATIVES + INT8_CHAIN + INT8_ALTERNATIVES


# --------------------------------------------------------------------------- build (TF)


def build(config: dict[str, Any]) -> dict[str, Any]:
    """In the TensorFlow worker: write every variant and its parity figures."""
    import dataclasses

    from cnnedge.data import load_mnist
    from cnnedge.edge._metadata import ModelMetadata
    from cnnedge.export._convert import keras_to_onnx
    from cnnedge.export._optimize import (
        GraphOptions,
        _fold_transpose,
        _space_to_depth,
        uint8_input_name,
    )
    from cnnedge.export._parity import compare, predict_keras, predict_onnx, to_model_input
    from cnnedge.export._quantize import QuantizationSettings, calibration_images
    from cnnedge.export.pipeline import _with_metadata, build_fp32, build_int8
    from cnnedge.train._keras_io import load_keras_model

    workdir = Path(config["workdir"])
    model = load_keras_model(config["keras"])
    digits = load_mnist(config.get("data"))
    images, labels = digits.x_test, digits.y_test
    reference = predict_keras(model, to_model_input(images))
    converted = keras_to_onnx(model)
    scopes = [layer.name for layer in model.layers]
    calibration = calibration_images(digits.x_train, QuantizationSettings().calibration_size)
    extras = {"space_to_depth": _space_to_depth, "fold_transpose": _fold_transpose}
    out: dict[str, Any] = {"reference_accuracy": float((reference.argmax(1) == labels).mean())}
    for variant in VARIANTS:
        options = GraphOptions(**{f: f in variant.graph for f in GraphOptions.__dataclass_fields__})
        source = converted
        if variant.extra and variant.precision == "int8":
            # An alternative the int8 path does not offer: apply it before the usual steps.
            from cnnedge.export._optimize import _copy, _static_flatten

            source = _copy(converted)
            _static_flatten(source)
            extras[variant.extra](source)
        if variant.precision == "fp32":
            graph, applied = build_fp32(source, options, scopes=scopes)
            if variant.extra:
                extras[variant.extra](graph)
                applied.append(variant.extra)
        else:
            settings = dataclasses.replace(QuantizationSettings(), **variant.quantization)
            graph, applied = build_int8(source, options, settings, calibration, scopes=scopes)
            if variant.extra:
                applied.insert(0, variant.extra)
        # The metadata export writes, so DigitClassifier reads these files as it reads
        # exported ones (a file without it is a foreign model to the runner).
        meta = ModelMetadata(
            input_range=(0.0, 255.0) if uint8_input_name(graph) else (0.0, 1.0),
            output="probabilities",
            optimizations=tuple(applied) or None,
        )
        data = _with_metadata(graph, meta, tools="benchmarks/levers.py")
        path = workdir / f"{variant.key}.onnx"
        path.write_bytes(data)
        report = compare(reference, predict_onnx(data, images), labels)
        out[variant.key] = {
            "path": str(path),
            "size_bytes": len(data),
            "rewrites": applied,
            "nodes": len(graph.graph.node),
            "max_abs_diff": float(f"{report.max_abs_diff:.3g}"),
            "argmax_agreement": report.argmax_agreement,
            "accuracy": report.accuracy,
        }
    return out


# --------------------------------------------------------------------------- timing


def _session(path: str, threads: int = 1, **options: Any) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    for key, value in options.items():
        if key == "config":
            for k, v in value.items():
                so.add_session_config_entry(k, v)
        elif key == "level":
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, value)
        elif key == "save_to":
            so.optimized_model_filepath = value
        else:
            setattr(so, key, value)
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _bare(session: Any, frames: Any) -> Callable[[], object]:
    from cnnedge.bench._runtimes import Inputs

    value = session.get_inputs()[0]
    feed = {value.name: Inputs.from_frames(frames).for_input(value.type)}
    run, names = session.run, [session.get_outputs()[0].name]
    return lambda: run(names, feed)


def _iobinding(session: Any, frames: Any) -> Callable[[], object]:
    import numpy as np

    from cnnedge.bench._runtimes import Inputs

    value, output = session.get_inputs()[0], session.get_outputs()[0]
    x = Inputs.from_frames(frames).for_input(value.type)
    out = np.empty((len(frames), 10), np.float32)
    binding = session.io_binding()
    binding.bind_cpu_input(value.name, x)
    binding.bind_output(output.name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
    run = session.run_with_iobinding
    return lambda: (run(binding), out)[1]


def _post_before(classifier: Any) -> Callable[[Any, int], Any]:
    """The runner's output handling before the speed work: float64 round trip, numpy's
    isfinite on every batch."""
    import numpy as np

    def post(raw: Any, n: int) -> Any:
        scores = np.asarray(raw, dtype=np.float64)
        if scores.size != n * len(classifier.labels):
            raise ValueError("bad output size")
        scores = scores.reshape(n, -1)
        if not np.isfinite(scores).all():
            raise ValueError("NaN")
        return scores.astype(np.float32)

    return post


def _runner_before(classifier: Any, path: str, frames: Any) -> Callable[[], object]:
    """DigitClassifier.predict_mnist as it ran before: numpy float conversion of the frames
    (for any model), the old output handling, np.concatenate of one chunk."""
    import numpy as np

    session = _session(path)
    value = session.get_inputs()[0]
    outputs = [o.name for o in session.get_outputs()]
    name, output = value.name, "probabilities" if "probabilities" in outputs else outputs[0]
    post = _post_before(classifier)
    dtype = np.uint8 if value.type == "tensor(uint8)" else np.float32
    low, high = classifier.input_range
    ink, background = (high, low) if classifier.polarity == "white-on-black" else (low, high)
    scale = (ink - background) / 255.0

    def feed(chunk: Any) -> Any:
        x = chunk.astype(np.float32) * scale
        x += background
        x = x.reshape(len(chunk), 28, 28, 1)
        if np.issubdtype(dtype, np.integer):
            x = np.rint(x)
        return np.ascontiguousarray(x.astype(dtype, copy=False))

    def call() -> Any:
        (raw,) = session.run([output], {name: feed(frames)})
        return np.concatenate([post(raw, len(frames))])

    return call


@dataclass
class Table:
    title: str
    note: str
    rows: list[dict[str, Any]]
    load: dict[str, Any]


def _time(
    calls: dict[str, Callable[[], object]], samples: int, rounds: int, threads: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    import gc

    from cnnedge.bench._timing import LoadMeter, TimingPlan, interleaved, summarize

    # Sessions of the previous table (and their thread pools) go before this one starts.
    gc.collect()
    time.sleep(0.5)

    plan = TimingPlan(
        samples=samples,
        rounds=rounds,
        warmup_calls=200,
        warmup_seconds=0.5,
        max_seconds=60.0,
        pause_seconds=0.002 if threads == 1 else 0.01,
    )
    with LoadMeter() as meter:
        ns = interleaved(calls, plan)
    assert meter.result is not None
    return {k: summarize(v) for k, v in ns.items()}, meter.result.to_dict()


def _row(label: str, stats: Any, **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "p50_us": round(stats.p50_us, 1),
        "p90_us": round(stats.p90_us, 1),
        "p99_us": round(stats.p99_us, 1),
        "samples": stats.samples,
        **extra,
    }


def run_levers(
    keras: Path, data: str | None, samples: int, rounds: int, say: Callable[[str], None]
) -> dict[str, Any]:
    import numpy as np

    from cnnedge._system import machine_info, package_versions
    from cnnedge.data import load_mnist
    from cnnedge.edge import DigitClassifier

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnnedge-levers-") as tmp:
        workdir = Path(tmp)
        say("TensorFlow worker: converting, rewriting, quantizing, checking parity")
        config = workdir / "config.json"
        result_path = workdir / "built.json"
        config.write_text(json.dumps({"keras": str(keras), "data": data, "workdir": tmp}))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(
            [sys.executable, __file__, "--build", str(config), str(result_path)],
            check=True,
            env=env,
        )
        built = json.loads(result_path.read_text())
        frames = np.ascontiguousarray(load_mnist(data).x_test[:1])
        path = {v.key: built[v.key]["path"] for v in VARIANTS}
        tables: list[Table] = []

        def chain_table(
            title: str, chain: tuple[Variant, ...], alternatives: tuple[Variant, ...]
        ) -> None:
            say(f"timing: {title}")
            variants = chain + alternatives
            calls = {v.key: _bare(_session(path[v.key]), frames) for v in variants}
            stats, load = _time(calls, samples, rounds)
            rows = []
            previous = None
            for v in variants:
                b = built[v.key]
                versus = v.versus or (previous.key if previous is not None else None)
                before = stats[versus] if versus is not None else None
                rows.append(
                    _row(
                        v.lever,
                        stats[v.key],
                        key=v.key,
                        kept=v.kept,
                        before_us=None if before is None else round(before.p50_us, 1),
                        nodes=b["nodes"],
                        size_kib=round(b["size_bytes"] / 1024),
                        max_abs_diff=b["max_abs_diff"],
                        accuracy=b["accuracy"],
                    )
                )
                if v in chain:
                    previous = v
            tables.append(
                Table(
                    title,
                    "bare InferenceSession.run, 1 thread, graph_optimization_level ALL; each "
                    "step adds its lever to the step above (before = that step's p50); the "
                    "alternatives are compared with the step they replace",
                    rows,
                    load,
                )
            )

        chain_table("Graph levers, fp32", FP32_CHAIN, FP32_ALTERNATIVES)
        chain_table("Quantization and graph levers, int8", INT8_CHAIN, INT8_ALTERNATIVES)

        # ---- the runner
        for precision, plain_key, new_key in (
            ("fp32", "fp32-plain", "fp32-uint8"),
            ("int8", "int8-plain", "int8-direct"),
        ):
            say(f"timing: runner, {precision}")
            plain = DigitClassifier(path[plain_key], threads=1)
            fast = DigitClassifier(path[new_key], threads=1)
            unbound = DigitClassifier(path[new_key], threads=1)
            # The general path (session.run) at batch 1: switch off the bound buffers.
            unbound._one = None
            calls = {
                "before": _runner_before(plain, path[plain_key], frames),
                "plain-now": lambda c=plain: c.predict_mnist(frames),
                "now-unbound": lambda c=unbound: c.predict_mnist(frames),
                "now": lambda c=fast: c.predict_mnist(frames),
                "bare-plain": _bare(_session(path[plain_key]), frames),
                "bare-now": _bare(_session(path[new_key]), frames),
            }
            labels = {
                "before": "before: first export, runner before the speed work (float "
                "conversion, float64 round trip, numpy isfinite, concatenate)",
                "plain-now": "first export, runner now (runner levers only)",
                "now-unbound": "shipped export, runner now, general path (session.run)",
                "now": "shipped export, runner now (batch 1: frame copied into IOBinding buffers)",
                "bare-plain": "bare session.run, first export",
                "bare-now": "bare session.run, shipped export",
            }
            stats, load = _time(calls, samples, rounds)
            rows = [_row(labels[k], stats[k], key=k) for k in calls]
            tables.append(
                Table(
                    f"Runner, {precision}: DigitClassifier.predict_mnist, one uint8 frame",
                    "1 thread; the runner's overhead is its p50 minus the bare session.run's "
                    "on the same file",
                    rows,
                    load,
                )
            )

        # ---- session options on the shipped models
        say("timing: session options")
        new = {"fp32": path["fp32-uint8"], "int8": path["int8-direct"]}
        calls: dict[str, Callable[[], object]] = {}
        labels: dict[str, str] = {}
        load_ms: dict[str, float] = {}
        for precision, model in new.items():
            for level in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
                key = f"{precision}-{level}"
                calls[key] = _bare(_session(model, level=level), frames)
                labels[key] = f"{precision}: graph_optimization_level {level}"
            saved = str(workdir / f"{precision}-offline.onnx")
            _session(model, level="ORT_ENABLE_EXTENDED", save_to=saved)
            key = f"{precision}-offline"
            calls[key] = _bare(_session(saved, level="ORT_ENABLE_ALL"), frames)
            labels[key] = f"{precision}: offline-optimized file (saved at EXTENDED), loaded at ALL"
            key = f"{precision}-iobinding"
            calls[key] = _iobinding(_session(model), frames)
            labels[key] = f"{precision}: IOBinding, input and output bound once (vs ALL)"
            key = f"{precision}-denormal"
            calls[key] = _bare(
                _session(model, config={"session.set_denormal_as_zero": "1"}), frames
            )
            labels[key] = f"{precision}: session.set_denormal_as_zero = 1 (vs ALL)"
            for file, label in ((model, "as exported"), (saved, "offline-optimized")):
                times = []
                for _ in range(15):
                    t0 = time.perf_counter()
                    _session(file)
                    times.append((time.perf_counter() - t0) * 1000)
                load_ms[f"{precision} {label}"] = round(float(np.median(times)), 2)
        stats, load = _time(calls, samples, rounds)
        rows = [_row(labels[k], stats[k], key=k) for k in calls]
        tables.append(
            Table(
                "Session options (shipped models)",
                "bare InferenceSession.run, 1 thread; session load times (median of 15): "
                + ", ".join(f"{k} {v} ms" for k, v in load_ms.items()),
                rows,
                load,
            )
        )

        # ---- threads and spinning, batch 1 and batch 1000
        cores = os.cpu_count() or 1
        if cores > 1:
            for batch in (1, 1000):
                say(f"timing: threads and spinning, batch {batch}")
                x = np.ascontiguousarray(np.resize(load_mnist(data).x_test, (batch, 28, 28)))
                calls = {}
                labels = {}
                for precision, model in (("int8", new["int8"]), ("fp32", new["fp32"])):
                    calls[f"{precision}-1"] = _bare(_session(model, 1), x)
                    labels[f"{precision}-1"] = f"{precision}, 1 thread"
                    for spin in ("1", "0"):
                        key = f"{precision}-{cores}-spin{spin}"
                        config = {"session.intra_op.allow_spinning": spin}
                        calls[key] = _bare(_session(model, cores, config=config), x)
                        labels[key] = f"{precision}, {cores} threads, allow_spinning={spin}"
                if batch == 1000:
                    calls["int8-plain-2"] = _bare(_session(path["int8-plain"], cores), x)
                    labels["int8-plain-2"] = f"int8 plain export (before), {cores} threads"
                n = samples if batch == 1 else max(30, samples // 100)
                stats, load = _time(calls, n, min(rounds, n), threads=cores)
                rows = [
                    _row(
                        labels[k],
                        stats[k],
                        key=k,
                        images_per_s=round(batch / stats[k].p50_us * 1e6),
                    )
                    for k in calls
                ]
                tables.append(
                    Table(
                        f"Threads and spinning, batch {batch}",
                        "bare InferenceSession.run on the shipped models",
                        rows,
                        load,
                    )
                )

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "packages": package_versions(),
        "keras": str(keras),
        "samples": samples,
        "rounds": rounds,
        "reference_accuracy": built["reference_accuracy"],
        "variants": {v.key: {**built[v.key], "lever": v.lever, "kept": v.kept} for v in VARIANTS},
        "tables": [t.__dict__ for t in tables],
        "seconds": round(time.perf_counter() - started, 1),
    }


# --------------------------------------------------------------------------- report


def _pct(after: float, before: float) -> str:
    return f"{100 * (after - before) / before:+.1f}%"


def _kept(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "before"}[value]


def _summary(result: dict[str, Any]) -> list[str]:
    """Before and after of each chain, from the tables (empty for tables it cannot find)."""
    lines: list[str] = []
    for table in result["tables"]:
        rows = {r.get("key"): r for r in table["rows"]}
        title = table["title"]
        if "before_us" in table["rows"][0]:
            first = table["rows"][0]
            last = [r for r in table["rows"] if r["kept"]][-1]
            what = "fp32" if "fp32" in title else "int8"
            lines.append(
                f"- {what} graph, bare session.run: {first['p50_us']} -> {last['p50_us']} µs "
                f"({_pct(last['p50_us'], first['p50_us'])}); accuracy "
                f"{100 * first['accuracy']:.2f}% -> {100 * last['accuracy']:.2f}%, "
                f"max |Δp| vs Keras {first['max_abs_diff']:.3g} -> {last['max_abs_diff']:.3g}"
            )
        elif title.startswith("Runner") and "before" in rows and "now" in rows:
            before, now = rows["before"]["p50_us"], rows["now"]["p50_us"]
            bare_before, bare_now = rows["bare-plain"]["p50_us"], rows["bare-now"]["p50_us"]
            what = "fp32" if "fp32" in title else "int8"
            lines.append(
                f"- {what} through DigitClassifier.predict_mnist: {before} -> {now} µs "
                f"({_pct(now, before)}); the runner's own cost over session.run "
                f"{before - bare_before:.1f} -> {now - bare_now:.1f} µs"
            )
    return ["Before -> after (p50, batch 1, 1 thread):", "", *lines, ""] if lines else []


def to_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Speed levers, each measured on its own",
        "",
        f"{result['created']}: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; "
        + ", ".join(f"{k} {v}" for k, v in result["packages"].items() if v),
        "",
        "Made by `python benchmarks/levers.py --keras "
        f"{result['keras']}` ({result['seconds']:.0f} s). Every table's rows were timed "
        "together in interleaved rounds (batch 1 unless said, up to "
        f"{result['samples']:,} calls each over {result['rounds']} rounds, p50), so their "
        "ratios are fair even while other processes use the CPU (recorded under each table). "
        "Parity columns: all 10,000 MNIST test images against Keras "
        f"(Keras accuracy {100 * result['reference_accuracy']:.2f}%).",
        "",
        *_summary(result),
    ]
    for table in result["tables"]:
        load = table["load"]
        before = (load.get("loadavg_before") or [None])[0]
        lines += [f"## {table['title']}", "", table["note"] + ".", ""]
        chain = "before_us" in table["rows"][0]
        if chain:
            lines += [
                "| step | p50 µs | before µs | change | p90 µs | nodes | size | max \\|Δp\\| "
                "vs Keras | accuracy | kept |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for r in table["rows"]:
                change = "–" if r["before_us"] is None else _pct(r["p50_us"], r["before_us"])
                lines.append(
                    f"| {r['label']} | {r['p50_us']} | {r['before_us'] or '–'} | {change} | "
                    f"{r['p90_us']} | {r['nodes']} | {r['size_kib']} KiB | "
                    f"{r['max_abs_diff']:.3g} | {100 * r['accuracy']:.2f}% | {_kept(r['kept'])} |"
                )
        else:
            rate = "images_per_s" in table["rows"][0]
            head = "| row | p50 µs | p90 µs | p99 µs |" + (" images/s |" if rate else "")
            lines += [head, "|---|---|---|---|" + ("---|" if rate else "")]
            for r in table["rows"]:
                lines.append(
                    f"| {r['label']} | {r['p50_us']} | {r['p90_us']} | {r['p99_us']} |"
                    + (f" {r['images_per_s']:,} |" if rate else "")
                )
        lines += [
            "",
            f"Load: average {before} before, other processes used "
            f"{load.get('background_cores')} cores during the {load.get('seconds')} s.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/levers.py", description=__doc__)
    parser.add_argument("--keras", type=Path, default=Path("runs/reference/model.keras"))
    parser.add_argument("--data", default=os.environ.get("CNNEDGE_MNIST"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--build", nargs=2, metavar=("CONFIG", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        config = json.loads(Path(args.build[0]).read_text())
        Path(args.build[1]).write_text(json.dumps(build(config)))
        return 0
    result = run_levers(
        args.keras, args.data, args.samples, args.rounds, lambda m: print(f"… {m}", flush=True)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed-levers.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "speed-levers.md").write_text(to_markdown(result))
    print(f"wrote {args.out / 'speed-levers.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
