"""MediaPipe FaceMesh (0.10.21, models inside its wheel) as a per-frame detector."""

from __future__ import annotations

import numpy as np

from apb2face_jax.errors import UserError


class FaceMeshDetector:
  """Finds one face per frame of a video; use as a context manager.

  Runs in video mode (tracking between frames) with iris refinement, so each
  found face has 478 vertices; `static_images=True` detects afresh in every
  image (unrelated images, e.g. generated faces).
  """

  def __init__(self, min_confidence: float = 0.5, static_images: bool = False):
    try:
      from mediapipe.python.solutions import face_mesh  # pylint: disable=g-import-not-at-top
    except ImportError as error:
      raise UserError(
          f'mediapipe is not installed ({error}); run the annotator in its own venv: '
          'python3 -m venv /work/annot-venv && /work/annot-venv/bin/pip install '
          '-r tools/annotate-requirements.txt') from None
    self._mesh = face_mesh.FaceMesh(
        static_image_mode=static_images, max_num_faces=1, refine_landmarks=True,
        min_detection_confidence=min_confidence,
        min_tracking_confidence=min_confidence)

  def __enter__(self) -> FaceMeshDetector:
    return self

  def __exit__(self, *exc_info) -> None:
    self._mesh.close()

  def __call__(self, frame_rgb: np.ndarray) -> np.ndarray | None:
    """(478, 3) vertices of the face in an RGB uint8 frame, in pixels, or None.

    x and y are frame pixels; z is FaceMesh's relative depth scaled like x.
    """
    height, width = frame_rgb.shape[:2]
    result = self._mesh.process(frame_rgb)
    if not result.multi_face_landmarks:
      return None
    landmarks = result.multi_face_landmarks[0].landmark
    return np.array([(p.x * width, p.y * height, p.z * width) for p in landmarks])
