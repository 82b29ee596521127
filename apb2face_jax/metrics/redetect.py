"""Re-detection of landmarks, pose and blink on images, by the data's own annotator.

The annotator (`apb2face_jax.annotate`, MediaPipe FaceMesh) runs in its own
venv (`annotate/venv.py` says which interpreter and how to create it) as a
subprocess: `python -m apb2face_jax.annotate.images`.
"""

import dataclasses
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from apb2face_jax.annotate import venv
from apb2face_jax.data.layout import NUM_POINTS


@dataclasses.dataclass
class Detections:
  """Per image: found or not; landmarks (N, 106, 2), pose (N, 3), blink (N, 2), NaN where not found."""
  found: np.ndarray
  landmarks: np.ndarray
  pose: np.ndarray
  blink: np.ndarray
  dropped: dict[str, int]  # reason -> image count


class AnnotatorUnavailable(Exception):
  """The annotator cannot run here; the message says why and what to do."""


def redetect(images: list[Path], python: Path, scale: float = 1.0) -> Detections:
  """Annotates `images`; landmark coordinates are multiplied by `scale` (e.g. to 256-crop pixels)."""
  if not python.is_file():
    raise AnnotatorUnavailable(f"annotator interpreter {python} does not exist (create it: {venv.HOW_TO_CREATE} "
                               "or config.annotator_python)")
  with tempfile.TemporaryDirectory() as scratch:
    out = Path(scratch) / "detections.json"
    result = venv.run(python, "apb2face_jax.annotate.images", str(out), *map(str, images))
    if result.returncode != 0:
      raise AnnotatorUnavailable(f"the annotator ({python}) failed: {venv.last_error_line(result)}")
    records = json.loads(out.read_text())["images"]
  n = len(records)
  found = np.array(["dropped" not in r for r in records], bool)
  landmarks, pose, blink = np.full((n, NUM_POINTS, 2), np.nan), np.full((n, 3), np.nan), np.full((n, 2), np.nan)
  for i, r in enumerate(records):
    if found[i]:
      landmarks[i], pose[i], blink[i] = np.asarray(r["landmarks"]) * scale, r["pose"], r["blink"]
  dropped = dict(Counter(r["dropped"] for r in records if "dropped" in r))
  return Detections(found, landmarks, pose, blink, dropped)
