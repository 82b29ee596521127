"""Face crops of video frames (numpy/OpenCV): the box around the landmarks, the crop, point mapping."""

import numpy as np

from apb2face_jax.data.layout import CROP_SIZE

CROP_SCALE = 1.4  # crop half side / max(landmark box half width, half height)


def crop_box(landmarks: np.ndarray) -> tuple[float, float, float]:
  """Square crop (x0, y0, side) around landmarks (N, 2) in frame pixels (docs/paper_and_code.md §5).

  Centred on the landmarks' bounding-box centre, half side CROP_SCALE x
  max(half width, half height). May run outside the frame.
  """
  lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
  centre = (lo + hi) / 2
  half = CROP_SCALE * float(np.max((hi - lo) / 2))
  return float(centre[0] - half), float(centre[1] - half), 2 * half


def to_crop_coords(
    landmarks: np.ndarray, box: tuple[float, float, float], out_size: int = CROP_SIZE
) -> np.ndarray:
  """Maps frame-pixel points (..., 2) into the out_size x out_size crop of `box`."""
  x0, y0, side = box
  return (landmarks - np.array([x0, y0])) * (out_size / side)


def crop_image(image: np.ndarray, box: tuple[float, float, float], out_size: int) -> np.ndarray:
  """Crops square `box` of an (H, W, 3) uint8 frame to (out_size, out_size, 3) uint8.

  Bilinear resampling with exactly the map of `to_crop_coords` (pixel-centre
  aligned, like cv2.resize); parts of the box outside the frame come out black.
  """
  import cv2

  x0, y0, side = box
  scale = out_size / side
  # crop x = scale * (frame x - x0) on the continuous axis; cv2 indexes pixel centres.
  matrix = np.array(
      [[scale, 0.0, scale * (0.5 - x0) - 0.5], [0.0, scale, scale * (0.5 - y0) - 0.5]]
  )
  return cv2.warpAffine(
      image,
      matrix,
      (out_size, out_size),
      flags=cv2.INTER_LINEAR,
      borderMode=cv2.BORDER_CONSTANT,
      borderValue=(0, 0, 0),
  )
