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
