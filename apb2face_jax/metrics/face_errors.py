"""Errors of re-detected faces against the signals that drove them (paper Table 1).

DR: share of images where the annotator finds a face. ALE: mean Euclidean
distance over the 106 points, in pixels of the 256x256 crop (the dataset's
units). APE: mean absolute error over (pitch, roll, yaw), radians. ABE: mean
absolute error over the two blink ratios (eye height / width). The paper does
not define ALE/APE/ABE beyond their names; these are the plain readings.
"""

import numpy as np


def detection_rate(found: np.ndarray) -> float:
  """Percent of images with a detected face."""
  found = np.asarray(found, bool)
  return 100.0 * float(found.mean()) if found.size else float("nan")


def landmark_error(detected: np.ndarray, target: np.ndarray) -> np.ndarray:
  """(N,) mean point-to-point distance of (N, P, 2) landmark sets."""
  return np.linalg.norm(np.asarray(detected, np.float64) - np.asarray(target, np.float64), axis=-1).mean(axis=-1)


def mean_abs_error(detected: np.ndarray, target: np.ndarray) -> np.ndarray:
  """(N,) mean absolute error over the last axis (pose: 3 angles, blink: 2 ratios)."""
  return np.abs(np.asarray(detected, np.float64) - np.asarray(target, np.float64)).mean(axis=-1)
