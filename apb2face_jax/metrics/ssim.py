"""SSIM (Wang et al. 2004) with the settings the face-generation papers use, by dm-pix.

Gaussian window of 11 taps, sigma 1.5, K1 0.01, K2 0.03, population covariances,
mean over the valid part of the SSIM map and over channels: `dm_pix.ssim`. This
equals `skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=..., channel_axis=-1)`, which
tests/test_metrics.py checks.
"""

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

FILTER_SIZE = 11  # Wang et al. 2004: 11x11 Gaussian (skimage: radius int(3.5 * 1.5 + 0.5) = 5)
SIGMA = 1.5       # Wang et al. 2004
K1, K2 = 0.01, 0.03  # Wang et al. 2004


@jax.jit
def _ssim(a: jax.Array, b: jax.Array, data_range: jax.Array) -> jax.Array:
  # Both images in [0, 1]: SSIM is unchanged, and float32 variances stay away from cancellation.
  return dm_pix.ssim(a.astype(jnp.float32) / data_range, b.astype(jnp.float32) / data_range, max_val=1.0,
                     filter_size=FILTER_SIZE, filter_sigma=SIGMA, k1=K1, k2=K2)


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
  if a.ndim != 4 or min(a.shape[1:3]) < FILTER_SIZE:
    raise ValueError(f"SSIM needs (B, H, W, C) images of at least {FILTER_SIZE} pixels a side, got {a.shape}")
  values = _ssim(a, b, jnp.float32(data_range))
  return values[0] if single else values
