"""The TensorFlow side of the end-to-end comparison: ``cnnedge predict``'s job done by
importing TensorFlow and calling Keras. The benchmark runs the packaged copy,
``src/cnnedge/bench/tf_predict.py``, so installed cnnedge has it too; this runs the same.

    python benchmarks/tf_predict.py --model runs/reference/model.keras IMAGE [IMAGE ...]
"""

from __future__ import annotations

import sys

from cnnedge.bench.tf_predict import main

if __name__ == "__main__":
    sys.exit(main())
