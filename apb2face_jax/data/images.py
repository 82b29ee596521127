"""Frames as the networks see them: uint8 <-> float32 in [-1, 1]."""

from typing import Any

import numpy as np


def unit_range(frames: Any) -> Any:
  """uint8 frames (numpy or JAX) -> float32 in [-1, 1]."""
  return frames.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8."""
  return np.clip((np.asarray(images, np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
