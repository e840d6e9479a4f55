"""The same job as ``cnnedge predict image.png``, done the way one would without cnnedge's
runner: import TensorFlow, load the Keras model, predict.

    python tf_predict.py --model model.keras IMAGE [IMAGE ...]

``benchmarks/run_all.py`` runs this file as a fresh process beside ``cnnedge predict`` and
compares their wall time and peak memory. It uses cnnedge's own preprocessing (OpenCV), so the two
differ only in what runs the model.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the .keras model")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)

    # What a user's script would do; quiet logs keep stderr comparable to cnnedge's.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf  # noqa: F401  (Keras' backend; imported as such a script would)

    from cnnedge.edge.images import load_image
    from cnnedge.edge.preprocess import find_digit

    model = keras.saving.load_model(args.model, compile=False)
    for path in args.images:
        crop = find_digit(load_image(path))
        if crop is None:
            print(f"{path}: no digit")
            continue
        x = crop.frame[None, :, :, None].astype(np.float32) / 255.0
        probabilities = model.predict(x, verbose=0)[0]
        best = int(np.argmax(probabilities))
        print(f"{path}: {best} (confidence {float(probabilities[best]):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
