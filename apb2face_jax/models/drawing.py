"""Landmark images and face masks, drawn on the device (JAX).

Pixel convention everywhere: pixel (i, j) (column i, row j) covers
[i, i+1) x [j, j+1), so a point (x, y) falls in pixel (floor(x), floor(y)) and
pixel centres sit at half-integers.

`rasterise_landmarks` and `face_mask` are traceable (jit, vmap, grad-free);
they are the one way both training and generation draw landmarks.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# The face polygon of docs/paper_and_code.md §4: contour points 0..32, then brow points 41 down to 34.
FACE_POLYGON = tuple(range(33)) + tuple(range(41, 33, -1))
MASK_KERNEL = 5  # side of the square dilation kernel
MASK_DILATIONS_AT_512 = 10


def resize_faces(images: jax.Array, size: int) -> jax.Array:
  """(B, H, W, 3) -> (B, size, size, 3), linear with antialiasing (the stored 256 crops to a network's size)."""
  if images.shape[1:3] == (size, size):
    return images
  return jax.image.resize(images, (images.shape[0], size, size, images.shape[-1]), "linear", antialias=True)


def _disc_offsets(radius: int) -> np.ndarray:
  """(K, 2) integer (dx, dy) offsets with dx^2 + dy^2 <= radius^2."""
  d = np.arange(-radius, radius + 1)
  dx, dy = np.meshgrid(d, d)
  keep = dx**2 + dy**2 <= radius**2
  return np.stack([dx[keep], dy[keep]], axis=-1)


def rasterise_landmarks(landmarks: jax.Array, size: int, radius: int = 0) -> jax.Array:
  """Draws points (B, N, 2) (x, y pixels) as white on black: (B, size, size, 3) in {-1, 1}.

  radius 0 sets the one pixel (floor(x), floor(y)) per point, as the training
  data's `256_landmark_crop_thin` images were drawn; radius r fills the
  pixels within distance r (in pixels) of it. Pixels outside the image are
  dropped, never wrapped.
  """
  batch = landmarks.shape[0]
  offsets = jnp.asarray(_disc_offsets(radius), jnp.float32)
  pixels = jnp.floor(landmarks.astype(jnp.float32))[:, :, None, :] + offsets  # (B, N, K, 2)
  x, y = pixels[..., 0], pixels[..., 1]
  inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)  # False for NaN too
  flat = jnp.where(inside, y * size + x, size * size).astype(jnp.int32)
  rows = jnp.arange(batch)[:, None, None]
  canvas = jnp.zeros((batch, size * size), jnp.float32).at[rows, flat].set(1.0, mode="drop")
  image = canvas.reshape(batch, size, size, 1) * 2.0 - 1.0
  return jnp.broadcast_to(image, (batch, size, size, 3))


def _fill_polygon(polygon: jax.Array, size: int) -> jax.Array:
  """Even-odd fill of closed polygons (B, K, 2) at pixel centres: (B, size, size) bool.

  Scanline form of the crossing-number test: for every row centre, each edge
  that straddles it crosses at some x, and every pixel centre left of that x
  counts the crossing. Counting is a scatter of crossings into per-row bins
  and a cumulative sum, so the cost is O(B (K size + size^2)).
  """
  batch, corners = polygon.shape[:2]
  start = polygon[:, :, None, :]  # (B, K, 1, 2)
  end = jnp.roll(polygon, -1, axis=1)[:, :, None, :]
  row_y = jnp.arange(size, dtype=jnp.float32) + 0.5
  x0, y0, x1, y1 = start[..., 0], start[..., 1], end[..., 0], end[..., 1]
  straddles = (y0 > row_y) != (y1 > row_y)  # (B, K, size)
  rise = jnp.where(straddles, y1 - y0, 1.0)
  cross_x = x0 + (row_y - y0) * (x1 - x0) / rise
  # Pixel i (centre i + 0.5) is left of cross_x iff i < ceil(cross_x - 0.5).
  first_right = jnp.clip(jnp.ceil(cross_x - 0.5), 0, size)
  first_right = jnp.where(straddles, first_right, 0).astype(jnp.int32)
  b = jnp.arange(batch)[:, None, None]
  r = jnp.arange(size)[None, None, :]
  bins = jnp.zeros((batch, size, size + 1), jnp.int32).at[b, r, first_right].add(1)
  right_of = bins.sum(-1, keepdims=True) - jnp.cumsum(bins, axis=-1)[..., :size]
  return right_of % 2 == 1


def face_mask(
    landmarks: jax.Array, size: int, dilate_iterations: int | None = None
) -> jax.Array:
  """Dilated face polygon of landmarks (B, 106, 2): (B, size, size, 1) float in {0, 1}.

  Fills the polygon FACE_POLYGON (contour then brows), then dilates it
  `dilate_iterations` times with a 5x5 ones kernel (as cv2.dilate: pixels
  outside the image do not count); the default is 10 at 512, scaled with
  `size` (5 at 256). Dilating n times with a 5x5 square is one (4n+1)-square
  max filter, done separably.
  """
  if dilate_iterations is None:
    dilate_iterations = round(MASK_DILATIONS_AT_512 * size / 512)
  polygon = landmarks[:, np.array(FACE_POLYGON), :].astype(jnp.float32)
  mask = _fill_polygon(polygon, size).astype(jnp.float32)
  reach = (MASK_KERNEL // 2) * dilate_iterations
  if reach:
    for axis in (1, 2):
      window = [1, 1, 1]
      window[axis] = 2 * reach + 1
      padding = [(0, 0)] * 3
      padding[axis] = (reach, reach)
      mask = lax.reduce_window(mask, 0.0, lax.max, window, (1, 1, 1), padding)
  return mask[..., None]
