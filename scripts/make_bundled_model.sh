#!/usr/bin/env bash
# Reproduce the bundled models from scratch, each trained with seed 0 and exported to fp32
# and int8 inside the package:
#
#   digits.onnx, digits.int8.onnx      the robust recipe (the default model): the notebook's
#                                      network with a "not a digit" output, trained on
#                                      photo-like digits and non-digits (about 50 minutes on
#                                      2 cores)
#   notebook.onnx, notebook.int8.onnx  the notebook's recipe exactly (12 epochs, batch 100;
#                                      about 8 minutes)
#
#   scripts/make_bundled_model.sh            both
#   scripts/make_bundled_model.sh robust     the default model only
#   scripts/make_bundled_model.sh notebook   the notebook's only
#
# Needs `pip install -e '.[train]'` and MNIST ($CNNEDGE_MNIST, or Keras's download). The
# robust recipe draws its letters and symbols in handwriting fonts when they are installed
# (Debian's packages below, installed here when run as root with apt-get); without them it
# uses OpenCV's Hershey fonts only, and the model differs. Same seed and fonts on the same
# machine give the same weights; other CPUs may differ in the last bits, so compare
# accuracy, not bytes. Provenance: src/cnnedge/models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CNNEDGE=${CNNEDGE:-.venv/bin/cnnedge}
which=${1:-both}
FONTS=(fonts-dkg-handwriting fonts-humor-sans fonts-bwht fonts-breip fonts-femkeklaver
       fonts-rufscript fonts-sjfonts fonts-freefont-ttf fonts-gfs-neohellenic fonts-dejavu-core)

install_fonts() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${FONTS[@]}" ||
      echo "make_bundled_model: the handwriting fonts could not be installed" >&2
  else
    echo "make_bundled_model: not root or no apt-get: install ${FONTS[*]} for the same model" >&2
  fi
}

if [ "$which" = both ] || [ "$which" = robust ]; then
  install_fonts
  "$CNNEDGE" train --recipe robust --seed 0 --out runs/robust
  # Calibrated on 4,000 images: with export's default 500, int8 answered "not a digit" for
  # 1.5 points fewer rendered non-digits than fp32 (export allows 1); with 4,000, 0.95.
  "$CNNEDGE" export src/cnnedge/models/digits.onnx --model runs/robust/model.keras --int8 \
    --calibration-size 4000
  "$CNNEDGE" info --model src/cnnedge/models/digits.onnx
fi
if [ "$which" = both ] || [ "$which" = notebook ]; then
  "$CNNEDGE" train --recipe seed --seed 0 --out runs/reference
  "$CNNEDGE" export src/cnnedge/models/notebook.onnx --model runs/reference/model.keras --int8
  "$CNNEDGE" info --model src/cnnedge/models/notebook.onnx
fi
