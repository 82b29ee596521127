#!/usr/bin/env bash
# The GPU pass behind the README's GPU rows: predictor and paper-size reenactor benches.
# Run from the repo root on a machine whose python3 has jax with CUDA; extra wheels
# (ml_collections, tensorboardX, ...) may be carried in .whl/.
set -u
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
nvidia-smi -L
python3 bench/predictor.py --batched 300
python3 bench/reenactor.py --variant paper --batched 64 --train-batch 16 --repeats 10
# End to end with the real input pipeline (host and device-resident) on the embedded sample.
python3 bench/train_throughput.py --steps 20
# Side by side with the official modules when torch (CUDA) and a checkout are there
# (OFFICIAL_REPO, default .official: git clone https://github.com/zhangzjn/APB2Face .official).
official="${OFFICIAL_REPO:-.official}"
if [ -d "$official" ] && python3 -c "import torch" 2>/dev/null; then
  python3 bench/compare_official.py --official-repo "$official" --reenactor-train-batch 16
else
  echo "compare_official skipped: needs torch and a checkout at $official"
fi
# Conversion parity and the model tests on the accelerator itself (they pick CPU unless told).
if python3 -c "import torch, pytest" 2>/dev/null; then
  JAX_PLATFORMS="${JAX_PLATFORMS:-cuda}" python3 -m pytest -q -p no:cacheprovider tests/test_convert.py tests/test_models.py
fi
