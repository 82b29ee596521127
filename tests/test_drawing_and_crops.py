"""Landmark rasteriser, face mask and crop drawing."""


import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from apb2face_jax.data import crops
from apb2face_jax.models import drawing


def _white(image: jax.Array) -> set[tuple[int, int]]:
  """(row, col) of the white pixels of one rasterised image (H, W, 3)."""
  image = np.asarray(image)
  assert set(np.unique(image)) <= {-1.0, 1.0}
  np.testing.assert_array_equal(image[..., 0], image[..., 2])
  return {(int(r), int(c)) for r, c in zip(*np.nonzero(image[..., 0] > 0))}


def test_rasterise_sets_floor_pixels_and_drops_outside():
  inside = [[10.7, 20.2], [0.0, 0.0], [15.99, 15.0], [16.0, 3.0], [4.0, 16.5]]  # in a 32 image
  outside = [[-0.5, 5.0], [3.0, -7.0]]
  points = np.array([inside + outside], np.float32)
  image = jax.jit(drawing.rasterise_landmarks, static_argnums=1)(points, 16)
  assert image.shape == (1, 16, 16, 3)
  assert _white(image[0]) == {(0, 0), (15, 15)}
  image = drawing.rasterise_landmarks(points, 32)
  assert _white(image[0]) == {(20, 10), (0, 0), (15, 15), (3, 16), (16, 4)}


def test_rasterise_disc_radius():
  points = np.array([[[8.5, 8.5], [0.2, 0.2]]], np.float32)
  one = _white(drawing.rasterise_landmarks(points, 16, radius=1)[0])
  assert one == {(8, 8), (7, 8), (9, 8), (8, 7), (8, 9), (0, 0), (1, 0), (0, 1)}
  two = _white(drawing.rasterise_landmarks(points[:, :1], 16, radius=2)[0])
  assert len(two) == 13
  assert {(6, 8), (10, 8), (7, 7), (9, 9)} <= two and (6, 7) not in two


def test_rasterise_under_vmap():
  points = jnp.asarray(np.random.default_rng(0).uniform(0, 16, size=(3, 2, 106, 2)), jnp.float32)
  batched = jax.vmap(lambda p: drawing.rasterise_landmarks(p, 16))(points)
  assert batched.shape == (3, 2, 16, 16, 3)
  np.testing.assert_array_equal(batched[1], drawing.rasterise_landmarks(points[1], 16))


def _ellipse_landmarks(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
  """106 points whose face polygon is an ellipse (the others sit at the centre)."""
  angles = np.linspace(0, 2 * np.pi, len(drawing.FACE_POLYGON), endpoint=False)
  points = np.full((1, 106, 2), [cx, cy], np.float32)
  points[0, list(drawing.FACE_POLYGON)] = np.stack(
      [cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=-1
  )
  return points


def test_face_polygon_order():
  assert drawing.FACE_POLYGON[:33] == tuple(range(33))
  assert drawing.FACE_POLYGON[33:] == (41, 40, 39, 38, 37, 36, 35, 34)


def test_face_mask_fills_polygon_interior():
  mask = np.asarray(drawing.face_mask(_ellipse_landmarks(32, 30, 20, 12), 64, 0))[0, ..., 0]
  assert mask.shape == (64, 64) and set(np.unique(mask)) == {0.0, 1.0}
  rows, cols = np.mgrid[:64, :64] + 0.5
  level = ((cols - 32) / 20) ** 2 + ((rows - 30) / 12) ** 2
  assert mask[level < 0.9].all()
  assert not mask[level > 1.0].any()
  assert not mask[[0, 0, -1, -1], [0, -1, 0, -1]].any()


def test_face_mask_handles_concave_polygon():
  # A "C" shape: the notch between its arms must stay empty.
  points = np.full((1, 106, 2), 4.0, np.float32)
  c_shape = [(4, 4), (28, 4), (28, 10), (10, 10), (10, 22), (28, 22), (28, 28), (4, 28)]
  corners = c_shape + c_shape[-1:] * (len(drawing.FACE_POLYGON) - len(c_shape))
  points[0, list(drawing.FACE_POLYGON)] = corners
  mask = np.asarray(drawing.face_mask(points, 32, 0))[0, ..., 0]
  assert mask[6, 20] and mask[16, 6] and mask[25, 20]
  assert not mask[16, 20]


@pytest.mark.parametrize("iterations", [1, 3])
def test_face_mask_dilation_matches_cv2(iterations: int):
  points = _ellipse_landmarks(32, 30, 14, 9)
  filled = np.asarray(drawing.face_mask(points, 64, 0))[0, ..., 0].astype(np.uint8)
  dilated = np.asarray(drawing.face_mask(points, 64, iterations))[0, ..., 0]
  expected = cv2.dilate(filled, np.ones((5, 5), np.uint8), iterations=iterations)
  np.testing.assert_array_equal(dilated, expected)


def test_face_mask_default_dilation_scales_with_size():
  points = _ellipse_landmarks(128, 128, 40, 30)
  filled = np.asarray(drawing.face_mask(points, 256, 0))[0, ..., 0]
  dilated = np.asarray(jax.jit(drawing.face_mask, static_argnums=1)(points, 256))[0, ..., 0]
  cols = np.nonzero(filled.any(axis=0))[0]
  grown = np.nonzero(dilated.any(axis=0))[0]
  assert grown[0] == cols[0] - 10 and grown[-1] == cols[-1] + 10  # 5 iterations x 2 px


def test_crop_box_hand_example():
  landmarks = np.array([[100.0, 150.0], [200.0, 50.0], [150.0, 250.0]])
  box = crops.crop_box(landmarks)
  np.testing.assert_allclose(box, (10.0, 10.0, 280.0))
  crop = crops.to_crop_coords(np.array([[150.0, 150.0], [10.0, 290.0]]), box, 256)
  np.testing.assert_allclose(crop, [[128.0, 128.0], [0.0, 256.0]])


def test_crop_image_pads_outside_frame_black():
  frame = np.full((100, 120, 3), 200, np.uint8)
  crop = crops.crop_image(frame, (-50.0, -50.0, 200.0), 100)
  assert crop.shape == (100, 100, 3) and crop.dtype == np.uint8
  assert not crop[:24, :].any() and not crop[:, :24].any()
  assert (crop[26:74, 26:84] == 200).all()


def test_crop_image_identity_and_coordinates_agree():
  frame = np.random.default_rng(0).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
  np.testing.assert_array_equal(crops.crop_image(frame, (0.0, 0.0, 40.0), 40), frame[:, :40])
  # A 2x upscale of box (10, 5, 20): frame pixel (x=13, y=7) lands on crop pixels 6..7, 4..5.
  single = np.zeros((40, 50, 3), np.uint8)
  single[7, 13] = 255
  crop = crops.crop_image(single, (10.0, 5.0, 20.0), 40)
  centre = crops.to_crop_coords(np.array([13.5, 7.5]), (10.0, 5.0, 20.0), 40)
  np.testing.assert_allclose(centre, [7.0, 5.0])
  rows, cols = np.nonzero(crop[..., 0] == crop[..., 0].max())
  assert set(rows) == {4, 5} and set(cols) == {6, 7}

