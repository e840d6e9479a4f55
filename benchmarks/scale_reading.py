"""Batch reading benchmark: images per second with 1 and 2 workers, on Ray Data and with
``cnnedge predict --workers``'s process pool.

    python benchmarks/scale_reading.py [--images 3000] [--model fp32] [--out benchmarks/results]

``--images`` scans (MNIST test digits, 3x, dark ink on a white page of 124x124 pixels,
PNG) are written to a temporary folder, then read:

1. by :func:`cnnedge.edge.files.read_files` (what ``cnnedge predict --workers N`` runs), with
   1 and 2 worker processes;
2. by :func:`cnnedge.scale.read_images` on a local Ray (``ray.init(num_cpus=2)``) with 1 and 2
   actors, writing JSON lines.

Each is timed from the call to the last reading (process or actor start-up included; the
Ray instance itself is started once, before). Writes ``scale_reading.md`` and ``.json``
(the machine, versions, figures) under ``--out``. Not a test: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cnnedge._atomic import write_text
from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.data import load_mnist
from cnnedge.edge.files import read_files

ROOT = Path(__file__).resolve().parents[1]
WORKERS = (1, 2)


def write_scans(folder: Path, count: int) -> list[Path]:
    digits = load_mnist(os.environ.get("CNNEDGE_MNIST"))
    paths = []
    for i in range(count):
        ink = np.kron(digits.x_test[i % len(digits.y_test)], np.ones((3, 3), np.uint8))
        page = cv2.copyMakeBorder(255 - ink, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
        path = folder / f"scan{i:05d}.png"
        cv2.imwrite(str(path), page)
        paths.append(path)
    return paths


def time_pool(paths: list[Path], model: str, workers: int) -> dict[str, Any]:
    sources = [(str(p), p) for p in paths]
    started = time.perf_counter()
    read = sum(
        r.result is not None
        for chunk in read_files(sources, model=model, workers=workers)
        for r in chunk
    )
    seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "images_per_s": len(paths) / seconds,
        "read": read,
    }


def time_ray(folder: Path, count: int, model: str, workers: int, out: Path) -> dict[str, Any]:
    from cnnedge.scale import read_images, readings

    started = time.perf_counter()
    readings([folder], model=model, workers=workers).materialize()
    reading = time.perf_counter() - started
    started = time.perf_counter()
    summary = read_images([folder], out / f"ray{workers}", model=model, workers=workers)
    seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "images_per_s": count / seconds,
        "reading_seconds": round(reading, 2),
        "reading_images_per_s": count / reading,
        "read": summary.read,
    }


def versions() -> dict[str, str]:
    found = package_versions()
    for name in ("ray", "pyarrow"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Batch reading: images per second against workers",
        "",
        f"{r['images']} PNG scans (124x124, one MNIST test digit each), model `{r['model']}`, "
        "one onnxruntime thread and one OpenCV thread per worker. Timed from the call to "
        "the last reading, worker start-up included.",
        "",
        *machine_lines(r["machine"], r["versions"]),
        f"Load average at start {r['load_start']}, at end {r['load_end']}.",
        "",
        "| engine | workers | seconds | images/s | speed-up |",
        "| --- | --- | --- | --- | --- |",
    ]
    ray_reading = [
        {**row, "seconds": row["reading_seconds"], "images_per_s": row["reading_images_per_s"]}
        for row in r["ray"]
    ]
    engines = (
        ("processes (`predict --workers`)", r["pool"]),
        ("Ray Data, `read_images` (reading and writing JSON lines)", r["ray"]),
        ("Ray Data, reading only (`readings(...).materialize()`)", ray_reading),
    )
    for engine, rows in engines:
        base = rows[0]["images_per_s"]
        for row in rows:
            lines.append(
                f"| {engine} | {row['workers']} | {row['seconds']:.1f} | "
                f"{row['images_per_s']:.0f} | {row['images_per_s'] / base:.2f}x |"
            )
    lines += [
        "",
        "The machine has two cores and was shared with other work while this ran (see the "
        "load average): the second worker's gain is bounded by that. Ray's figures include "
        "its per-run overhead (starting actors, scheduling blocks, writing the files): "
        "small archives read faster with `predict --workers`, large ones on Ray's cluster.",
        "",
        f"Reproduce: `python benchmarks/scale_reading.py --images {r['images']}`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--model", default="fp32")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    import ray

    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scans"
        folder.mkdir()
        paths = write_scans(folder, args.images)
        pool = [time_pool(paths, args.model, w) for w in WORKERS]
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        outputs = Path(tmp) / "out"
        rays = [time_ray(folder, args.images, args.model, w, outputs) for w in WORKERS]
        ray.shutdown()
    result = {
        "images": args.images,
        "model": args.model,
        "pool": pool,
        "ray": rays,
        "load_start": load_start,
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "machine": machine_info(),
        "versions": versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "scale_reading.json", json.dumps(result, indent=2) + "\n")
    write_text(args.out / "scale_reading.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
