#!/usr/bin/env bash
# seglab's prepared GPU check (seglab.dev.gpu_check): benches, bf16 trainings of FCN-8s and
# DeepLab v3, the torch CRF on CUDA against the CPU, an exact DDP resume and ONNX parity on
# CUDA, within a time budget (--budget-s, 480), one summary at the end (also in
# $OUT/gpu_check.txt or --out DIR/gpu_check.txt).
#
#   bash scripts/gpu_check.sh              # on a machine with a GPU, from anywhere
#   bash scripts/gpu_check.sh --dry-run    # compose every command, run none (no GPU needed)
#   bash scripts/gpu_check.sh --help       # the options (steps, sizes, --only …)
#
# The Python: $SEGLAB_PYTHON if set, else the repository's .venv/bin/python where it runs
# and imports torch, else python3. Where `import seglab` fails, seglab is installed
# editable without dependencies (offline: no build isolation); where even that fails,
# src/ goes on PYTHONPATH. seglab's dependencies (torch, torchvision, lightning, hydra …)
# must already be installed for that Python: nothing is downloaded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "gpu_check: $*" >&2; }

if [[ -n "${SEGLAB_PYTHON:-}" ]]; then
    PY=$SEGLAB_PYTHON
elif [[ -x .venv/bin/python ]] && .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    PY=.venv/bin/python
elif command -v python3 >/dev/null 2>&1; then
    PY=python3
else
    say "no Python: neither .venv/bin/python (with torch) nor python3 was found"
    exit 2
fi

if ! "$PY" -c "import torch, torchvision" >/dev/null 2>&1; then
    say "$PY cannot import torch and torchvision; install them for it (a CUDA build) first"
    exit 2
fi

# seglab's dependencies (pyproject.toml), looked up without importing them
FIND='import importlib.util as u, sys; print(" ".join(m for m in sys.argv[1:] if u.find_spec(m) is None))'
missing=$("$PY" -c "$FIND" lightning hydra omegaconf torchmetrics albumentations cv2 numpy \
    PIL yaml pydantic scipy rich)
if [[ -n "$missing" ]]; then
    say "$PY lacks seglab's dependencies: $missing (pyproject.toml [project]; cv2 is"
    say "opencv-python-headless, PIL pillow, yaml pyyaml, hydra hydra-core); install them first"
    exit 2
fi
missing=$("$PY" -c "$FIND" onnx onnxruntime onnxscript)
[[ -z "$missing" ]] || say "note: $missing missing: step 5 (ONNX export) will fail"

if ! "$PY" -c "import seglab" >/dev/null 2>&1; then
    say "seglab is not importable by $PY: pip install --no-deps --no-build-isolation -e ."
    if ! "$PY" -m pip install --quiet --no-deps --no-build-isolation -e . >&2 \
        || ! "$PY" -c "import seglab" >/dev/null 2>&1; then
        say "the editable install failed; using src/ on PYTHONPATH instead"
        export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    fi
fi

echo "gpu_check: $("$PY" -c 'import sys; print(sys.executable)')" >&2
exec "$PY" -m seglab.dev.gpu_check "$@"
