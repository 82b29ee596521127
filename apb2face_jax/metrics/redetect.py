"""Re-detection of landmarks, pose and blink on images, by the data's own annotator.

The annotator (`apb2face_jax.annotate`, MediaPipe FaceMesh) needs numpy < 2,
so it lives in a venv of its own and runs here as a subprocess:
`python -m apb2face_jax.annotate.images`. Its interpreter is, in order: the
config value, $APB2FACE_ANNOTATOR_PYTHON, `<repo>/.venv-annotate/bin/python`.
Create that venv with

  python3 -m venv .venv-annotate && .venv-annotate/bin/pip install -r tools/annotate-requirements.txt
"""

import dataclasses
import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from apb2face_jax.data.layout import NUM_POINTS

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "APB2FACE_ANNOTATOR_PYTHON"
DEFAULT_PYTHON = REPO_ROOT / ".venv-annotate" / "bin" / "python"


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


def annotator_python(configured: str | None = None) -> Path:
  return Path(configured or os.environ.get(ENV_VAR) or DEFAULT_PYTHON)


def redetect(images: list[Path], python: Path, scale: float = 1.0) -> Detections:
  """Annotates `images`; landmark coordinates are multiplied by `scale` (e.g. to 256-crop pixels)."""
  if not python.is_file():
    raise AnnotatorUnavailable(
        f"annotator interpreter {python} does not exist (create it: python3 -m venv .venv-annotate && "
        f".venv-annotate/bin/pip install -r tools/annotate-requirements.txt, or set ${ENV_VAR} or "
        "config.annotator_python)")
  with tempfile.TemporaryDirectory() as scratch:
    out = Path(scratch) / "detections.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([str(python), "-m", "apb2face_jax.annotate.images", str(out), *map(str, images)],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
      last = (result.stderr.strip().splitlines() or ["no message"])[-1]
      raise AnnotatorUnavailable(f"the annotator ({python}) failed: {last}")
    records = json.loads(out.read_text())["images"]
  n = len(records)
  found = np.array(["dropped" not in r for r in records], bool)
  landmarks, pose, blink = np.full((n, NUM_POINTS, 2), np.nan), np.full((n, 3), np.nan), np.full((n, 2), np.nan)
  for i, r in enumerate(records):
    if found[i]:
      landmarks[i], pose[i], blink[i] = np.asarray(r["landmarks"]) * scale, r["pose"], r["blink"]
  dropped = dict(Counter(r["dropped"] for r in records if "dropped" in r))
  return Detections(found, landmarks, pose, blink, dropped)
