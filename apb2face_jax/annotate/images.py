"""Annotates still images: python -m apb2face_jax.annotate.images OUT.json IMAGE [IMAGE ...].

Runs in the annotator's venv (like `python -m apb2face_jax.annotate`), for the
evaluation's re-detection on generated faces. Each image is detected afresh
(FaceMesh static mode) and gets the same annotation as a video frame: 106
points in the image's pixels, pose (pitch, roll, yaw) and blink (left, right),
or the reason it was dropped. OUT.json:

  {"images": [{"file": PATH, "width": W, "height": H,
               "landmarks": [[x, y] x 106], "pose": [3], "blink": [2]}
              or {"file": PATH, "width": W, "height": H, "dropped": REASON}, ...]}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

import cv2

from apb2face_jax.annotate import pipeline
from apb2face_jax.annotate.detector import FaceMeshDetector
from apb2face_jax.errors import UserError


def annotate_images(paths: list[Path]) -> list[dict]:
  """One record per image, in order (see the module docstring)."""
  records = []
  with FaceMeshDetector(static_images=True) as detect:
    for index, path in enumerate(paths):
      bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
      if bgr is None:
        raise UserError(f'image {path} cannot be read by OpenCV; pass PNG or JPEG files')
      rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
      height, width = rgb.shape[:2]
      record = {'file': str(path), 'width': width, 'height': height}
      result = pipeline.annotate_frame(index, detect(rgb), width, height)
      if isinstance(result, str):
        record['dropped'] = result
      else:
        record.update(landmarks=result.points.tolist(), pose=result.pose.tolist(),
                      blink=result.blink.tolist())
      records.append(record)
  return records


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog='python -m apb2face_jax.annotate.images',
                                   description='Landmarks, pose and blink of still face images.')
  parser.add_argument('out', type=Path, help='the JSON file to write')
  parser.add_argument('images', type=Path, nargs='+', help='the images (PNG or JPEG)')
  args = parser.parse_args(argv)
  try:
    records = annotate_images(args.images)
  except UserError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  args.out.write_text(json.dumps({'images': records}))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
