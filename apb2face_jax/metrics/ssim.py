"""SSIM (Wang et al. 2004) in JAX, with the settings the face-generation papers use.

Gaussian window sigma 1.5 truncated at 3.5 sigma (11 taps), K1 0.01, K2 0.03,
population (not sample) covariances, mean over the valid part of the SSIM map
and over channels. This equals `skimage.metrics.structural_similarity(a, b,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=..., channel_axis=-1)`: skimage filters with reflection at the
border and then crops the window radius from every side, which leaves exactly
the 'valid' convolution computed here.
"""

import jax
import jax.numpy as jnp
import numpy as np

SIGMA = 1.5    # Wang et al. 2004; skimage's gaussian_weights=True setting
TRUNCATE = 3.5  # skimage: window radius = int(truncate * sigma + 0.5) = 5
K1, K2 = 0.01, 0.03  # Wang et al. 2004


def gaussian_window(sigma: float = SIGMA, truncate: float = TRUNCATE) -> np.ndarray:
  """The normalised 1-D Gaussian taps (scipy.ndimage.gaussian_filter's kernel)."""
  radius = int(truncate * sigma + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  taps = np.exp(-0.5 * (x / sigma) ** 2)
  return taps / taps.sum()


def _blur(x: jax.Array, taps: jax.Array) -> jax.Array:
  """Separable 'valid' filtering of (B, H, W, C) over H and W."""
  b, h, w, c = x.shape
  k = taps.shape[0]
  planes = jnp.moveaxis(x, -1, 1).reshape(b * c, 1, h, w)
  dn = ("NCHW", "OIHW", "NCHW")
  planes = jax.lax.conv_general_dilated(planes, taps.reshape(1, 1, k, 1), (1, 1), "VALID", dimension_numbers=dn)
  planes = jax.lax.conv_general_dilated(planes, taps.reshape(1, 1, 1, k), (1, 1), "VALID", dimension_numbers=dn)
  return jnp.moveaxis(planes.reshape(b, c, h - k + 1, w - k + 1), 1, -1)


@jax.jit
def _ssim(a: jax.Array, b: jax.Array, data_range: jax.Array) -> jax.Array:
  # Scaling both images to [0, 1] (and the constants with them) leaves SSIM unchanged
  # and keeps float32 variances (E[x^2] - E[x]^2) away from cancellation.
  a = a.astype(jnp.float32) / data_range
  b = b.astype(jnp.float32) / data_range
  taps = jnp.asarray(gaussian_window(), jnp.float32)
  mu_a, mu_b = _blur(a, taps), _blur(b, taps)
  var_a = _blur(a * a, taps) - mu_a ** 2
  var_b = _blur(b * b, taps) - mu_b ** 2
  cov = _blur(a * b, taps) - mu_a * mu_b
  c1, c2 = K1 ** 2, K2 ** 2
  ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
  return ssim_map.mean(axis=(1, 2, 3))


def ssim(a: jax.Array | np.ndarray, b: jax.Array | np.ndarray, data_range: float) -> jax.Array:
  """Per-image SSIM of two (B, H, W, C) or (H, W, C) batches; `data_range`: max - min possible value.

  Images must be at least 11x11 pixels. For uint8 images use data_range=255,
  for images in [-1, 1] data_range=2.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"SSIM needs images of one shape, got {a.shape} and {b.shape}")
  single = a.ndim == 3
  if single:
    a, b = a[None], b[None]
  radius = int(TRUNCATE * SIGMA + 0.5)
  if a.ndim != 4 or min(a.shape[1:3]) < 2 * radius + 1:
    raise ValueError(f"SSIM needs (B, H, W, C) images of at least {2 * radius + 1} pixels a side, got {a.shape}")
  values = _ssim(a, b, jnp.float32(data_range))
  return values[0] if single else values
