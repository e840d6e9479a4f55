#!/usr/bin/env bash
# Emulated check of the edge install on linux/aarch64 (Raspberry Pi OS 64-bit = Debian
# bookworm, Python 3.11), on an x86_64 Debian or Ubuntu machine, as root:
#
#   1. builds a minimal arm64 Debian root with Python 3.11 (debootstrap --foreign, unpacked
#      with dpkg-deb; the second stage never runs, nothing is executed inside the root);
#   2. resolves the base install (cnnedge built from this checkout + its dependencies) from
#      aarch64 wheels only, with the host's pip, and resolves it again for x86_64: a version
#      that differs means pip fell back to an older release on aarch64, and the check fails;
#   3. runs cnnedge with the root's Python 3.11 under qemu-aarch64-static, once per emulated
#      CPU (default: cortex-a72 as in a Raspberry Pi 4, cortex-a76 as in a Raspberry Pi 5):
#      --version, info on the bundled models, predict on test images (fp32 and int8, single
#      digits and --number), webcam on a video file, the model alone on the host's
#      preprocessed frames, and compares digits and probabilities with the same commands on
#      the host (to 1e-4);
#   4. writes a markdown record of the run (WORKDIR/record.md, or --record FILE).
#
# It takes about 3 minutes on 2 cores (twice that on a busy machine; --cpu cortex-a72
# --keep-root: under 2) and 1.1 GB under WORKDIR, and needs the package registries (a Debian
# mirror, PyPI). Missing host tools are installed with apt-get. Not for CI: run it when the
# dependencies or the runner change, and record the run with --record docs/aarch64-check.md.
# Usage: sudo scripts/check-aarch64.sh [options]   (--help lists them)
# Documentation: docs/raspberry-pi.md; the last recorded run: docs/aarch64-check.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER="$REPO/scripts/aarch64_check.py"
WORKDIR=/tmp/cnnedge-aarch64
SUITE=bookworm
MIRROR=""
CPUS=(cortex-a72 cortex-a76)
RECORD=""
KEEP_ROOT=0
TOL=1e-4
IMAGES=()
DEFAULT_IMAGES=1
MNIST=${CNNEDGE_MNIST:-}
PYTHON=${PYTHON:-python3}
GUEST_PY=3.11
# Raspberry Pi OS bookworm has glibc 2.36: accept manylinux_2_36 down to manylinux_2_17.
GLIBC_NEWEST=36

usage() {
    cat <<EOF
Usage: sudo $0 [options]

Checks that 'pip install cnnedge' resolves from wheels on linux/aarch64 with Python $GUEST_PY
and that cnnedge gives the host's results there, under qemu user-mode emulation.

Options:
  --workdir DIR     scratch folder (default $WORKDIR; about 1.1 GB)
  --mirror URL      Debian mirror (default: the one apt uses here, else deb.debian.org)
  --cpu LIST        qemu CPU models, comma-separated (default: $(IFS=,; echo "${CPUS[*]}"))
  --images PATH     add test images: a file, or the first image of each folder under PATH
                    (repeatable; default: ../shared/datasets/real_digits when present)
  --no-default-images  only synthetic (and MNIST) images
  --mnist FILE      mnist.npz whose first 10 test digits are added
                    (default: \$CNNEDGE_MNIST, else ../shared/datasets/mnist.npz when present)
  --tol X           largest allowed probability difference (default $TOL)
  --record FILE     also write the markdown record of the run to FILE
  --keep-root       reuse the arm64 root of an earlier run in WORKDIR (faster)
  -h, --help        this text
Environment: PYTHON (host Python for the tool venv, default python3).
EOF
}

while (($#)); do
    case $1 in
        --workdir) WORKDIR=$2; shift 2 ;;
        --mirror) MIRROR=${2%/}; shift 2 ;;
        --cpu) IFS=, read -r -a CPUS <<<"$2"; shift 2 ;;
        --images) IMAGES+=("$(realpath "$2")"); shift 2 ;;
        --no-default-images) DEFAULT_IMAGES=0; shift ;;
        --mnist) MNIST=$(realpath "$2"); shift 2 ;;
        --tol) TOL=$2; shift 2 ;;
        --record) RECORD=$(realpath -m "$2"); shift 2 ;;
        --keep-root) KEEP_ROOT=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT="$WORKDIR/root"      # the arm64 Debian root
SITE=/opt/cnnedge         # pip --target, as the guest sees it (ROOT/opt/cnnedge on the host)
HOSTENV="$WORKDIR/host"   # host venv: the pip that resolves, and the host side of the comparison
OUT="$WORKDIR/out"
LOGS="$WORKDIR/logs"
START=$(date +%s)
FAILURES=()

log() { printf '[%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILURES+=("$*"); }

[[ $(uname -m) == x86_64 ]] || die "this check runs on an x86_64 host (here: $(uname -m))"
[[ $(id -u) == 0 ]] || die "run as root (debootstrap and apt-get need it): sudo $0"
mkdir -p "$WORKDIR" "$LOGS"
rm -rf "$OUT" && mkdir -p "$OUT"

# --- 0. host prerequisites -----------------------------------------------------------------
APT_UPDATED=0
apt_install() { # apt_install PACKAGE...: install with apt-get (one update per run)
    log "installing host tools with apt-get: $*"
    export DEBIAN_FRONTEND=noninteractive
    if ((!APT_UPDATED)); then
        apt-get update >>"$LOGS/apt.log" 2>&1 || die "apt-get update failed (see $LOGS/apt.log)"
        APT_UPDATED=1
    fi
    apt-get install -y --no-install-recommends "$@" >>"$LOGS/apt.log" 2>&1 ||
        die "apt-get install $* failed (see $LOGS/apt.log)"
}
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v wget >/dev/null || need+=(wget)
[[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || need+=(debian-archive-keyring)
if ((${#need[@]})); then apt_install "${need[@]}"; fi
QEMU_VERSION=$(qemu-aarch64-static --version | head -1)
log "host: $(uname -sr), $QEMU_VERSION, $("$PYTHON" --version)"

# --- 1. the arm64 Debian root --------------------------------------------------------------
apt_debian_mirrors() {
    # Debian archives (not -security) that apt on this machine uses, one-line and deb822 style.
    {
        grep -hs '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
            awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) {print $i; break}}'
        grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | sed 's/^URIs:[[:space:]]*//' | tr ' ' '\n'
    } | sed 's:/*$::' | grep -E '/debian$' | awk '!seen[$0]++'
}

pick_mirror() {
    local candidates=() m
    if [[ -n $MIRROR ]]; then candidates=("$MIRROR"); else
        mapfile -t candidates < <(apt_debian_mirrors)
        candidates+=(http://deb.debian.org/debian)
    fi
    for m in "${candidates[@]}"; do
        if wget -q -T 20 -t 2 -O "$LOGS/Release" "$m/dists/$SUITE/Release" &&
            grep -q '^Architectures:.* arm64' "$LOGS/Release"; then
            MIRROR=$m
            return 0
        fi
        log "mirror $m: no $SUITE/arm64 there or not reachable"
    done
    die "no Debian mirror with $SUITE for arm64 is reachable; pass one with --mirror URL"
}

if ((KEEP_ROOT)) && [[ -e "$ROOT/.cnnedge-root-ok" ]]; then
    log "reusing the arm64 root in $ROOT (--keep-root)"
    MIRROR=$(cat "$ROOT/.cnnedge-root-ok")
else
    pick_mirror
    log "debootstrap --arch=arm64 --foreign --variant=minbase $SUITE from $MIRROR"
    rm -rf "$ROOT"
    debootstrap --arch=arm64 --foreign --variant=minbase --include="python$GUEST_PY" \
        "$SUITE" "$ROOT" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 ||
        { tail -20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed (see $LOGS/debootstrap.log)"; }
    # The first stage extracted only the 'required' packages; unpack every downloaded one
    # (Python among them). dpkg-deb's own -x would replace the merged-/usr links (bin -> usr/bin,
    # lib -> usr/lib) with directories, so its data is piped through tar keeping those links.
    # ROOT/proc is a link to the host's /proc; it becomes a directory for the fake cpuinfo.
    rm -f "$ROOT/proc" && mkdir -p "$ROOT/proc"
    n=0
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
        dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$ROOT" ||
            die "cannot unpack $deb"
        n=$((n + 1))
    done
    [[ -L "$ROOT/bin" && -L "$ROOT/lib" ]] || die "the merged-/usr links of $ROOT were lost"
    printf '%s\n' "$MIRROR" >"$ROOT/.cnnedge-root-ok"
    log "unpacked $n packages into $ROOT ($(du -sh "$ROOT" | cut -f1))"
fi
[[ -x "$ROOT/usr/bin/python$GUEST_PY" ]] || die "no python$GUEST_PY in $ROOT"
GUEST_DEBIAN=$(cat "$ROOT/etc/debian_version")
GUEST_PYTHON_DEB=$(
    for f in "$ROOT"/var/cache/apt/archives/python"$GUEST_PY"-minimal_*.deb; do basename "$f"; done
)
GUEST_GLIBC_DEB=$(for f in "$ROOT"/var/cache/apt/archives/libc6_*.deb; do basename "$f"; done)

# qemu-user passes the guest the host's /proc/cpuinfo, in which onnxruntime (its cpuinfo
# library) finds no ARM cores and crashes on import. With -L ROOT, qemu opens
# ROOT/proc/cpuinfo first, so a Raspberry Pi's is written there for each emulated CPU.
write_cpuinfo() {
    local cpu=$1 n i part variant revision features model
    case $cpu in
        cortex-a72) # Raspberry Pi 4 (BCM2711)
            part=0xd08 variant=0x0 revision=3 features="fp asimd evtstrm crc32 cpuid"
            model="Raspberry Pi 4 Model B (emulated: qemu -cpu $cpu)" ;;
        *) # Raspberry Pi 5 (BCM2712, Cortex-A76), also for other -cpu models
            part=0xd0b variant=0x4 revision=1
            features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid"
            features+=" asimdrdm lrcpc dcpop asimddp"
            model="Raspberry Pi 5 Model B (emulated: qemu -cpu $cpu)" ;;
    esac
    n=$(getconf _NPROCESSORS_CONF)
    {
        for ((i = 0; i < n; i++)); do
            printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\n' "$i" "$features"
            printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\n' "$variant"
            printf 'CPU part\t: %s\nCPU revision\t: %s\n\n' "$part" "$revision"
        done
        printf 'Hardware\t: BCM2835\nModel\t\t: %s\n' "$model"
    } >"$ROOT/proc/cpuinfo"
}

# --- 2. wheels: resolve for aarch64 and for x86_64 -----------------------------------------
log "host tool venv ($HOSTENV) and a wheel of cnnedge from $REPO"
rm -rf "$HOSTENV"
if ! "$PYTHON" -m venv "$HOSTENV" >"$LOGS/venv.log" 2>&1; then
    # Debian's and Ubuntu's Pythons need python3-venv (ensurepip) for this.
    PYV=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    apt_install python3-venv "python$PYV-venv"
    rm -rf "$HOSTENV"
    "$PYTHON" -m venv "$HOSTENV" >"$LOGS/venv.log" 2>&1 || die "cannot make a venv (see $LOGS/venv.log)"
fi
PIP=("$HOSTENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip >"$LOGS/pip.log" 2>&1 || die "cannot upgrade pip (see $LOGS/pip.log)"
PIP_VERSION=$("${PIP[@]}" --version | cut -d' ' -f2)

# Build from the files git would see (tracked and untracked, not ignored), outside the checkout.
rm -rf "$WORKDIR/src" "$WORKDIR/dist" && mkdir -p "$WORKDIR/src"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z -co --exclude-standard |
        (cd "$REPO" && tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) |
        tar -xf - -C "$WORKDIR/src"
    SOURCE_REV="$(git -C "$REPO" rev-parse --short HEAD)"
    [[ -z $(git -C "$REPO" status --porcelain) ]] || SOURCE_REV+=" + uncommitted changes"
else
    tar --exclude=.venv --exclude=.git --exclude=runs -C "$REPO" -cf - . | tar -xf - -C "$WORKDIR/src"
    SOURCE_REV="(not a git checkout)"
fi
"${PIP[@]}" wheel -q --no-deps -w "$WORKDIR/dist" "$WORKDIR/src" >>"$LOGS/pip.log" 2>&1 ||
    die "cannot build the cnnedge wheel (see $LOGS/pip.log)"
WHEEL=$(ls "$WORKDIR"/dist/cnnedge-*.whl)
CNNEDGE_VERSION=$(basename "$WHEEL" | cut -d- -f2)

platforms() { # --platform options for manylinux_2_$GLIBC_NEWEST down to 2_17, and manylinux2014
    local arch=$1 m
    for ((m = GLIBC_NEWEST; m >= 17; m--)); do printf -- '--platform\nmanylinux_2_%d_%s\n' "$m" "$arch"; done
    printf -- '--platform\nmanylinux2014_%s\n' "$arch"
}
TARGET_OPTS=(--only-binary=:all: --python-version "$GUEST_PY" --implementation cp --abi "cp${GUEST_PY/./}")
resolve() { # resolve ARCH: download cnnedge and its dependencies as ARCH wheels
    local arch=$1 opts
    mapfile -t opts < <(platforms "$arch")
    rm -rf "$WORKDIR/wheels-$arch"
    "${PIP[@]}" download --progress-bar off "${TARGET_OPTS[@]}" "${opts[@]}" \
        -d "$WORKDIR/wheels-$arch" "$WHEEL" >"$LOGS/resolve-$arch.log" 2>&1 ||
        { grep -v 'is ignored' "$LOGS/resolve-$arch.log" | tail -20 >&2; die "no $arch wheels for the base install"; }
}
log "resolving the base install from wheels for aarch64 and x86_64 (cp$GUEST_PY, manylinux_2_17..2_$GLIBC_NEWEST)"
resolve aarch64
resolve x86_64
"$HOSTENV/bin/python" "$HELPER" wheels "$WORKDIR/wheels-aarch64" "$WORKDIR/wheels-x86_64" \
    --markdown "$OUT/wheels.md" >"$OUT/wheels.txt" 2>"$OUT/wheels.err" || {
    cat "$OUT/wheels.txt" "$OUT/wheels.err" >&2
    die "the aarch64 resolution is not right (above)"
}
cat "$OUT/wheels.txt"

log "installing into $ROOT$SITE (pip --target, aarch64 wheels only, no index)"
mapfile -t ARM_PLATFORMS < <(platforms aarch64)
rm -rf "${ROOT:?}$SITE"
"${PIP[@]}" install -q --no-index --find-links "$WORKDIR/wheels-aarch64" "${TARGET_OPTS[@]}" \
    "${ARM_PLATFORMS[@]}" --target "$ROOT$SITE" "cnnedge==$CNNEDGE_VERSION" >>"$LOGS/pip.log" 2>&1 ||
    die "pip install --target failed (see $LOGS/pip.log)"

log "installing the same versions into the host venv (the comparison's reference)"
for f in "$WORKDIR"/wheels-x86_64/*.whl; do basename "$f" | cut -d- -f1,2 | sed 's/-/==/'; done \
    >"$WORKDIR/constraints.txt"
"${PIP[@]}" install -q --only-binary=:all: --find-links "$WORKDIR/wheels-x86_64" \
    -c "$WORKDIR/constraints.txt" "$WHEEL" >>"$LOGS/pip.log" 2>&1 ||
    die "cannot install cnnedge into the host venv (see $LOGS/pip.log)"

# --- 3. test images ------------------------------------------------------------------------
if ((DEFAULT_IMAGES)) && ((${#IMAGES[@]} == 0)) && [[ -d "$REPO/../shared/datasets/real_digits" ]]; then
    IMAGES=("$(realpath "$REPO/../shared/datasets/real_digits")")
fi
if [[ -z $MNIST && -f "$REPO/../shared/datasets/mnist.npz" ]]; then
    MNIST=$(realpath "$REPO/../shared/datasets/mnist.npz")
fi
image_args=()
[[ -n $MNIST ]] && image_args+=(--mnist "$MNIST")
for p in "${IMAGES[@]}"; do image_args+=(--extra "$p"); done
rm -rf "$WORKDIR/images"
"$HOSTENV/bin/python" "$HELPER" images "$WORKDIR/images" "${image_args[@]}" >"$OUT/images.txt"
mapfile -t IMAGE_LIST <"$OUT/images.txt"
VIDEO="$WORKDIR/images/digits.mp4" # for cnnedge webcam: a video file stands in for the camera
"$HOSTENV/bin/python" "$HELPER" video "$VIDEO" >"$OUT/video.txt" || die "cannot write $VIDEO"
log "${#IMAGE_LIST[@]} test images and a video ($(cut -d' ' -f2- "$OUT/video.txt")) in $WORKDIR/images"

# --- 4. run: host, then the guest under qemu for each CPU ----------------------------------
clean_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 COLUMNS=100 TERM=dumb)
host_py() { (cd "$WORKDIR/images" && "${clean_env[@]}" HOME="$WORKDIR" "$HOSTENV/bin/python" "$@"); }
host() { host_py "$HOSTENV/bin/cnnedge" "$@"; }
guest_py() {
    (cd "$WORKDIR/images" && "${clean_env[@]}" HOME=/root PYTHONPATH="$SITE" QEMU_CPU="$CPU" \
        qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python$GUEST_PY" "$@")
}
guest() { guest_py "$SITE/bin/cnnedge" "$@"; } # the console script pip wrote for cnnedge

HOST_MODELS=$(host_py -c 'import cnnedge, pathlib; print(pathlib.Path(cnnedge.__file__).parent / "models")')
# qemu (7.2) maps the guest's paths into ROOT for open() and stat() but not for faccessat2(),
# which typer's check of a readable file argument calls: the guest is given its model files
# by their host path (ROOT/opt/cnnedge/...), which both resolve to the same file.
GUEST_MODELS="$ROOT$SITE/cnnedge/models"
[[ -f "$HOST_MODELS/digits.onnx" ]] || die "the cnnedge wheel has no bundled model (models/digits.onnx)"
MODELS=(digits.onnx)
[[ -f "$HOST_MODELS/digits.int8.onnx" ]] && MODELS+=(digits.int8.onnx)

# run NAME SIDE RUNNER ARGS...: RUNNER ARGS, output in OUT/NAME.SIDE.{out,err,rc,ms}
run() {
    local name=$1 side=$2 runner=$3 t0 rc
    shift 3
    t0=$(date +%s%N)
    set +e
    "$runner" "$@" >"$OUT/$name.$side.out" 2>"$OUT/$name.$side.err"
    rc=$?
    set -e
    echo "$rc" >"$OUT/$name.$side.rc"
    echo $((($(date +%s%N) - t0) / 1000000)) >"$OUT/$name.$side.ms"
}

# commands SIDE: every compared command, on the host (SIDE=host) or under qemu (SIDE=$CPU).
commands() {
    local side=$1 cli=guest py=guest_py models=$GUEST_MODELS model opts
    [[ $side == host ]] && cli=host py=host_py models=$HOST_MODELS
    run version "$side" "$cli" --version
    run webcam "$side" "$cli" webcam --camera "$VIDEO" --no-show --json
    # The preprocessed 28x28 frames of every image (single digit and every cut of --number).
    run frames "$side" "$py" "$HELPER" frames "$OUT/frames.$side.npz" "${IMAGE_LIST[@]}"
    for model in "${MODELS[@]}"; do
        opts=()
        [[ $model == digits.onnx ]] || opts=(--model "$models/$model") # else the bundled default
        run "info-$model" "$side" "$cli" info --json --model "$models/$model"
        run "info-text-$model" "$side" "$cli" info --model "$models/$model"
        run "predict-$model" "$side" "$cli" predict --json "${opts[@]}" "${IMAGE_LIST[@]}"
        run "number-$model" "$side" "$cli" predict --json --number "${opts[@]}" "${IMAGE_LIST[@]}"
        # The model alone, on the host's frames: the same input on both sides.
        run "model-$model" "$side" "$py" "$HELPER" model "$OUT/frames.host.npz" --model "$models/$model"
    done
}

log "host: cnnedge commands"
CPU=host
commands host
for f in "$OUT"/*.host.rc; do
    [[ $(cat "$f") == 0 ]] || die "on the host: $(basename "$f" .host.rc) exited $(cat "$f"): $(tail -3 "${f%.rc}.err")"
done

# compare NAME CPU [HELPER OPTIONS]: the host's output of NAME against the guest's on CPU.
compare() {
    local name=$1 cpu=$2 h="$OUT/$1.host" g="$OUT/$1.$2" result
    shift 2
    if [[ $(cat "$g.rc") != 0 ]]; then
        fail "$name on $cpu: exit code $(cat "$g.rc") (0 on the host)"
        result="$name: FAILED on aarch64 (exit code $(cat "$g.rc")): $(tail -1 "$g.err")"
    elif [[ $name == version ]]; then
        if cmp -s "$h.out" "$g.out"; then result="$name: SAME: $(cat "$g.out")"; else
            result="$name: DIFFERENT: $(cat "$g.out") vs $(cat "$h.out") on the host"
            fail "$name on $cpu: '$(cat "$g.out")' vs '$(cat "$h.out")' on the host"
        fi
    else
        result=$("$HOSTENV/bin/python" "$HELPER" compare "$h.out" "$g.out" --tol "$TOL" \
            --name "$name" "$@" 2>&1) || fail "$name on $cpu: outputs differ"
    fi
    printf '%s\n' "$result" | tee -a "$OUT/compare.$cpu.txt"
}

for CPU in "${CPUS[@]}"; do
    write_cpuinfo "$CPU"
    log "guest (qemu -cpu $CPU): importing numpy, cv2, onnxruntime"
    guest_py - >"$OUT/import.$CPU.txt" 2>&1 <<'PY' || { cat "$OUT/import.$CPU.txt" >&2; die "import failed under qemu -cpu $CPU"; }
import importlib.metadata as md
import importlib.util
import os
import platform
import sys

import cv2
import numpy
import onnxruntime

print("machine:", platform.machine(), "| python:", sys.version.split()[0],
      "| glibc:", os.confstr("CS_GNU_LIBC_VERSION").split()[-1])
print(" | ".join(f"{d} {md.version(d)}" for d in ("cnnedge", "numpy", "onnxruntime",
                                                     "opencv-python-headless", "typer", "rich")))
print("onnxruntime:", onnxruntime.get_device(), onnxruntime.get_available_providers())
print("OpenCV CPU features:", cv2.getCPUFeaturesLine())
absent = [m for m in ("tensorflow", "keras", "tf2onnx") if importlib.util.find_spec(m) is None]
print("not installed:", ", ".join(absent))
sys.exit(0 if len(absent) == 3 else 1)
PY
    sed 's/^/    /' "$OUT/import.$CPU.txt"
    log "guest (qemu -cpu $CPU): cnnedge commands"
    : >"$OUT/compare.$CPU.txt"
    commands "$CPU"
    if [[ $(cat "$OUT/frames.$CPU.rc") == 0 ]]; then
        "$HOSTENV/bin/python" "$HELPER" framediff "$OUT/frames.host.npz" "$OUT/frames.$CPU.npz" \
            --name frames --out "$OUT/frames-differ.$CPU.json" | tee -a "$OUT/compare.$CPU.txt"
    else
        fail "frames on $CPU: exit code $(cat "$OUT/frames.$CPU.rc")"
        echo '{}' >"$OUT/frames-differ.$CPU.json"
    fi
    compare version "$CPU"
    compare webcam "$CPU" --ignore time --ignore fps # wall-clock fields
    for model in "${MODELS[@]}"; do
        compare "info-$model" "$CPU" --ignore path # the model's path differs
        compare "model-$model" "$CPU"
        compare "predict-$model" "$CPU" --frames-differ "$OUT/frames-differ.$CPU.json"
        compare "number-$model" "$CPU" --frames-differ "$OUT/frames-differ.$CPU.json"
    done
done

# --- 5. the record ---------------------------------------------------------------------------
ELAPSED=$(($(date +%s) - START))
STATUS=PASS
((${#FAILURES[@]} == 0)) || STATUS=FAIL
seconds() { local ms; ms=$(cat "$OUT/$1.ms"); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
describe() { # describe NAME: the command line behind NAME
    local model=${1#*-}
    case $1 in
        version) echo "cnnedge --version" ;;
        webcam) echo "cnnedge webcam --camera digits.mp4 --no-show --json" ;;
        frames) echo "aarch64_check.py frames IMAGES" ;;
        info-*) echo "cnnedge info --json --model $model" ;;
        model-*) echo "aarch64_check.py model HOST_FRAMES --model $model" ;;
        predict-digits.onnx) echo "cnnedge predict --json IMAGES" ;;
        number-digits.onnx) echo "cnnedge predict --json --number IMAGES" ;;
        predict-*) echo "cnnedge predict --json --model $model IMAGES" ;;
        number-*) echo "cnnedge predict --json --number --model $model IMAGES" ;;
    esac
}
{
    echo "# Emulated linux/aarch64 check: $STATUS"
    echo
    echo "Written by \`scripts/check-aarch64.sh\`; how to run it and what it checks:"
    echo "[raspberry-pi.md](raspberry-pi.md#emulated-check-linuxaarch64)."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| cnnedge | $CNNEDGE_VERSION, from $SOURCE_REV |"
    echo "| host | $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(nproc) cores |"
    echo "| emulator | $QEMU_VERSION, user mode with \`-L ROOT\`; CPUs: ${CPUS[*]} |"
    echo "| arm64 root | Debian $SUITE ($GUEST_DEBIAN) minbase from $MIRROR: $GUEST_PYTHON_DEB, $GUEST_GLIBC_DEB |"
    echo "| resolver | pip $PIP_VERSION on the host: \`pip download --only-binary=:all: --python-version $GUEST_PY --implementation cp --abi cp${GUEST_PY/./} --platform manylinux_2_${GLIBC_NEWEST}_aarch64 ... --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64\`, then \`pip install --no-index --target ROOT$SITE\` |"
    echo "| test images | ${#IMAGE_LIST[@]}: 12 synthetic printed digits and numbers${MNIST:+, 10 MNIST test digits}${IMAGES:+, the first image of each folder of $(basename "${IMAGES[0]}")} |"
    echo "| tolerance | probabilities within $TOL; digits, texts and boxes identical |"
    echo "| duration | ${ELAPSED} s in all |"
    echo
    echo "## Wheels of the base install"
    echo
    echo "Every distribution that \`pip install cnnedge\` installs, resolved for aarch64 and,"
    echo "to catch a fallback to an older release, for x86_64 (the versions must be equal):"
    echo
    cat "$OUT/wheels.md"
    for CPU in "${CPUS[@]}"; do
        echo
        echo "## qemu -cpu $CPU"
        echo
        echo '```'
        cat "$OUT/import.$CPU.txt"
        echo '```'
        echo
        echo "| command | host | aarch64 (emulated) | exit |"
        echo "|---|---|---|---|"
        for name in version webcam frames $(for m in "${MODELS[@]}"; do echo "info-$m model-$m predict-$m number-$m"; done); do
            echo "| \`$(describe "$name")\` | $(seconds "$name.host") | $(seconds "$name.$CPU") | $(cat "$OUT/$name.$CPU.rc") |"
        done
        echo
        echo "Comparison with the host:"
        echo
        echo '```'
        cat "$OUT/compare.$CPU.txt"
        echo '```'
    done
    CPU=${CPUS[-1]}
    echo
    echo "## Output on aarch64 (qemu -cpu $CPU)"
    for model in "${MODELS[@]}"; do
        echo
        echo "\`cnnedge info --model $model\`:"
        echo
        echo '```'
        cat "$OUT/info-text-$model.$CPU.out"
        echo '```'
    done
    for model in "${MODELS[@]}"; do
        echo
        echo "\`$(describe "predict-$model")\` (readings; the JSON lines are in the run's output folder):"
        echo
        echo '```'
        "$HOSTENV/bin/python" "$HELPER" texts "$OUT/predict-$model.$CPU.out"
        echo '```'
        echo
        echo "\`$(describe "number-$model")\`:"
        echo
        echo '```'
        "$HOSTENV/bin/python" "$HELPER" texts "$OUT/number-$model.$CPU.out"
        echo '```'
    done
    echo
    echo "\`$(describe webcam)\` (a video file stands in for the camera):"
    echo
    echo '```'
    cat "$OUT/webcam.$CPU.out" "$OUT/webcam.$CPU.err"
    echo '```'
    if ((${#FAILURES[@]})); then
        echo
        echo "## Failures"
        echo
        for f in "${FAILURES[@]}"; do echo "- $f"; done
    fi
    echo
    echo "Emulated times are not device times: qemu translates every instruction, and the"
    echo "first run of each command also compiles Python's bytecode."
} >"$WORKDIR/record.md"
if [[ -n $RECORD ]]; then cp "$WORKDIR/record.md" "$RECORD" && log "record written to $RECORD"; fi

log "record: $WORKDIR/record.md; outputs: $OUT; logs: $LOGS"
if ((${#FAILURES[@]})); then
    printf 'FAIL: %s\n' "${FAILURES[@]}" >&2
    log "aarch64 check FAILED (${#FAILURES[@]} problems) in ${ELAPSED} s"
    exit 1
fi
log "aarch64 check PASSED in ${ELAPSED} s"
