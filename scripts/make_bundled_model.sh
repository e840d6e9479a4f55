#!/usr/bin/env bash
# Reproduce the bundled default models from scratch: train the reference recipe with seed 0,
# then export fp32 and int8 into the package. Needs `pip install -e '.[train]'` and MNIST
# ($CNNEDGE_MNIST, --data, or Keras's download). Same seed on the same machine gives the same
# weights; other CPUs may differ in the last bits, so accuracy, not bytes, is what to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
CNNEDGE=${CNNEDGE:-.venv/bin/cnnedge}
"$CNNEDGE" train --seed 0 --out runs/reference
"$CNNEDGE" export src/cnnedge/models/digits.onnx --model runs/reference/model.keras --int8
"$CNNEDGE" info src/cnnedge/models/digits.onnx
