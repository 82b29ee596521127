"""Writes tfds_annvi/dummy_data_t7/: a tiny synthetic AnnVI feature root (docs/paper_and_code.md §5).

    feature/{id}/256_{train,test}.t7    torch.save dicts, as the official script wrote
    feature/{id}/256_image_crop/{n}.jpg synthetic 256x256 crops (an ellipse "face")
    refused/*.t7                        files the restricted reader must refuse

Identity `alice` is saved in torch's zip format (torch >= 1.6), `bob` in the
legacy format, so the tests read both without torch. Nothing here is real
data. Needs torch (the tests do not):

  python3 -m venv /work/torch-venv
  /work/torch-venv/bin/pip install torch==2.13.0 numpy pillow
  /work/torch-venv/bin/python tools/make_t7_fixtures.py
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import shutil

import numpy as np
from PIL import Image, ImageDraw
import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / 'tfds_annvi' / 'dummy_data_t7'
SIZE = 256
# identity -> (train frames, test frames, zip format?)
IDENTITIES = {'alice': ([0, 1, 2, 4, 5, 6, 7], [3, 8], True),
              'bob': ([10, 11, 13, 14], [12], False)}


def _points(rng: np.random.Generator) -> np.ndarray:
  """106 points on an ellipse around the crop centre, (106, 2) crop pixels."""
  angle = np.linspace(0, 2 * np.pi, 106, endpoint=False)
  radius = np.array([70.0, 90.0]) * (1 + 0.02 * rng.standard_normal(2))
  return 128 + np.stack([np.cos(angle), np.sin(angle)], 1) * radius


def _crop(points: np.ndarray, rng: np.random.Generator) -> Image.Image:
  shade = tuple(int(v) for v in rng.integers(60, 200, 3))
  image = Image.new('RGB', (SIZE, SIZE), (20, 20, 30))
  draw = ImageDraw.Draw(image)
  lo, hi = points.min(0), points.max(0)
  draw.ellipse([*lo, *hi], fill=shade)
  for x in (100, 156):
    draw.ellipse([x - 8, 110, x + 8, 122], fill=(250, 250, 250))
  return image


def _records(folder: Path, frames: list[int], rng: np.random.Generator) -> dict:
  record = {'img_paths': [], 'audio_features': [], 'lands': [], 'poses': [], 'eyes': []}
  for n in frames:
    points = _points(rng)
    _crop(points, rng).save(folder / '256_image_crop' / f'{n}.jpg', quality=40)
    # As script_AnnVI.py: [crop, landmark image] paths relative to feature/{id}/,
    # (64, 60) float32 MFCC windows, 212 interleaved floats, lists of 3 and 2.
    record['img_paths'].append([f'256_image_crop/{n}.jpg', f'256_landmark_crop/{n}.jpg'])
    record['audio_features'].append(rng.standard_normal((64, 60)).astype(np.float32))
    record['lands'].append([float(v) for v in points.reshape(-1)])
    record['poses'].append([float(v) for v in rng.uniform(-0.3, 0.3, 3)])
    record['eyes'].append([float(v) for v in rng.uniform(0.1, 0.4, 2)])
  return record


class _Foreign:
  """Pickles as a call of os.system: the reader must refuse it, never run it."""

  def __reduce__(self):
    return (os.system, ('echo this .t7 fixture must be refused',))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', type=Path, default=OUT)
  args = parser.parse_args()
  shutil.rmtree(args.out, ignore_errors=True)
  rng = np.random.default_rng(0)
  for identity, (train, test, zip_format) in IDENTITIES.items():
    folder = args.out / 'feature' / identity
    (folder / '256_image_crop').mkdir(parents=True)
    for split, frames in (('train', train), ('test', test)):
      torch.save(_records(folder, frames, rng), folder / f'256_{split}.t7',
                 _use_new_zipfile_serialization=zip_format)
  refused = args.out / 'refused'
  refused.mkdir()
  for zip_format, suffix in ((True, 'zip'), (False, 'legacy')):
    torch.save({'img_paths': [], 'lands': torch.zeros(3)}, refused / f'tensor_{suffix}.t7',
               _use_new_zipfile_serialization=zip_format)
    torch.save({'img_paths': _Foreign()}, refused / f'foreign_{suffix}.t7',
               _use_new_zipfile_serialization=zip_format)
  size = sum(p.stat().st_size for p in args.out.rglob('*') if p.is_file())
  print(f'wrote {args.out}: {size / 1024:.0f} KiB')


if __name__ == '__main__':
  main()
