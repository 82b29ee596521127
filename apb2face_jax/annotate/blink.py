"""Blink signal: eye height / eye width on the 106 points (scale-invariant)."""

from __future__ import annotations

import numpy as np

from apb2face_jax.annotate import layout106


def _ratio(points: np.ndarray, lids: tuple[int, int], corners: tuple[int, int]) -> float:
  height = np.linalg.norm(points[lids[0]] - points[lids[1]])
  width = np.linalg.norm(points[corners[0]] - points[corners[1]])
  return float(height / width) if width > 0.0 else float('nan')


def eye_ratios(points: np.ndarray) -> np.ndarray:
  """(left, right) eye openness of 106 points: lid-middle distance / corner distance.

  Left is the image-left eye (points 52-57, 72, 73), right the image-right eye.
  On the carphone sample an open eye gives 0.3-0.47 and a closed one about 0.1.
  NaN if an eye has zero width.
  """
  return np.array([
      _ratio(points, layout106.LEFT_EYE_LIDS, layout106.LEFT_EYE_CORNERS),
      _ratio(points, layout106.RIGHT_EYE_LIDS, layout106.RIGHT_EYE_CORNERS),
  ])
