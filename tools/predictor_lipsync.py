"""Lip-sync scores of a trained predictor alone (no reenactor) beside the three baselines, on one split.

For choosing predictor settings on the validation slice (`speaker_validation`)
without touching the test frames; the evaluate job reports the same rows (and
the re-detected faces) on the test split.

  python tools/predictor_lipsync.py /tmp/predictor_val --dataset speaker_validation [--checkpoint latest]
"""

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: make `apb2face_jax` importable
# pylint: disable=wrong-import-position
from apb2face_jax import inference
from apb2face_jax.data import splits
from apb2face_jax.errors import UserError
from apb2face_jax.metrics import lipsync
# pylint: enable=wrong-import-position


def scores(workdir: str, dataset: str, data_dir: str | None, checkpoint: str, split: str) -> dict:
  """Per identity: predictor and baseline lip-sync scores on `split`, frames in time order."""
  predictor = inference.load_predictor(workdir, checkpoint)
  builder = splits.prepare(types.SimpleNamespace(dataset=dataset, data_dir=data_dir, manual_dir=None))
  train, test = splits.load(builder, "train"), splits.load(builder, split)
  out = {}
  for k, name in enumerate(test.identity_names):
    rows = np.flatnonzero(test.identity == k)
    rows = rows[np.argsort(test.columns["frame"][rows])]
    real, mfcc = test.columns["landmarks"][rows], test.columns["mfcc"][rows]
    predicted = np.asarray(predictor(mfcc, test.columns["pose"][rows], test.columns["blink"][rows]))
    own = train.identity == train.identity_names.index(name)
    out[name] = {"predictor": lipsync.scores(predicted.reshape(real.shape), real, mfcc, test.fps),
                 **lipsync.baselines(train.columns["landmarks"][own], train.columns["mfcc"][own], real, mfcc,
                                     test.fps)}
  return out


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("workdir", help="the predictor run's --workdir")
  parser.add_argument("--dataset", default="speaker_validation")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--checkpoint", default="latest")
  parser.add_argument("--split", default="test")
  args = parser.parse_args()
  try:
    print(json.dumps(scores(args.workdir, args.dataset, args.data_dir, args.checkpoint, args.split), indent=1))
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
