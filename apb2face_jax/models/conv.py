"""Convolution layer whose 3x3 stride-1 case runs as Winograd F(2x2, 3x3) on CPU.

XLA:CPU computes a convolution as a direct GEMM at about the machine's fp32
matmul peak; the generator's residual blocks (27 convolutions, 3x3, 256
channels, 91 % of its FLOPs) cannot get faster that way. Winograd F(2x2, 3x3)
computes each 2x2 output tile from a 4x4 input tile with 16 instead of 36
multiplications per channel pair: 16 matrix products (tiles x in) @ (in x out)
between an input transform and an output transform that only add. On 2 AMD EPYC
vCPUs, 64x64x256, batch 1: forward 25 -> 15 ms, gradient 50-55 -> 31-32 ms.
The gradient is Winograd too (custom VJP): the input gradient is the same
convolution of the padded output gradient with the flipped kernel, the kernel
gradient 16 products in the transform domain. Computed in fp32 (XLA:CPU runs
bf16 products at the fp32 rate); outputs agree with the direct convolution to
about 1e-6 relative. Accelerators keep XLA's own convolution (cuDNN picks its
algorithms itself).
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Winograd F(2x2, 3x3) kernel transform G (4 x 3); the input (B^T) and output (A^T)
# transforms are written out as additions in `_input_tiles` and `_output_image`.
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
# A^T's columns: how transform row a feeds output rows 0 and 1 of a tile.
_A_COLUMNS = ((1, 0), (1, 1), (1, -1), (0, -1))


def _bt(u0: jax.Array, u1: jax.Array, u2: jax.Array, u3: jax.Array) -> list[jax.Array]:
  """B^T applied across four arrays (the rows, or columns, of 4x4 tiles)."""
  return [u0 - u2, u1 + u2, u2 - u1, u1 - u3]


def _input_tiles(x: jax.Array) -> list[jax.Array]:
  """Padded (B, 2T + 2, 2S + 2, C) -> the 16 transformed tile arrays, each (B * T * S, C).

  Tiles start every 2 pixels; even/odd reshapes instead of strided slices, which
  XLA:CPU copies about 4x slower.
  """
  batch, height, width, channels = x.shape
  t, s = (height - 2) // 2, (width - 2) // 2
  pairs = x.reshape(batch, height // 2, 2, width // 2, 2, channels)
  rows = _bt(pairs[:, :t, 0], pairs[:, :t, 1], pairs[:, 1:t + 1, 0], pairs[:, 1:t + 1, 1])
  tiles = []
  for r in rows:
    tiles += _bt(r[:, :, :s, 0], r[:, :, :s, 1], r[:, :, 1:s + 1, 0], r[:, :, 1:s + 1, 1])
  return [v.reshape(batch * t * s, channels) for v in tiles]


def _output_image(products: list[jax.Array], batch: int, t: int, s: int) -> jax.Array:
  """A^T M A: the 16 products, each (B * T * S, O) -> the output (B, 2T, 2S, O)."""
  m = [p.reshape(batch, t, s, -1) for p in products]
  out = [[None, None], [None, None]]
  for i in range(2):
    for j in range(2):
      out[i][j] = sum(_A_COLUMNS[a][i] * _A_COLUMNS[b][j] * m[4 * a + b]
                      for a in range(4) for b in range(4) if _A_COLUMNS[a][i] and _A_COLUMNS[b][j])
  y = jnp.stack([jnp.stack(out[i], axis=-2) for i in range(2)], axis=2)  # (B, T, 2, S, 2, O)
  return y.reshape(batch, 2 * t, 2 * s, -1)


def _output_tiles(dy: jax.Array) -> list[jax.Array]:
  """The transpose of `_output_image`: (B, 2T, 2S, O) -> 16 arrays (B * T * S, O)."""
  batch, height, width, channels = dy.shape
  d = dy.reshape(batch, height // 2, 2, width // 2, 2, channels)
  quarters = [[d[:, :, i, :, j] for j in range(2)] for i in range(2)]
  tiles = []
  for a in range(4):
    for b in range(4):
      tiles.append(sum(_A_COLUMNS[a][i] * _A_COLUMNS[b][j] * quarters[i][j]
                       for i in range(2) for j in range(2) if _A_COLUMNS[a][i] and _A_COLUMNS[b][j]))
  return [v.reshape(-1, channels) for v in tiles]


def _winograd(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """VALID 3x3 convolution of (B, 2T + 2, 2S + 2, C) fp32 with an HWIO kernel."""
  batch, height, width, channels = x.shape
  u = jnp.einsum("ai,ijco,bj->abco", _G, kernel, _G).reshape(16, channels, -1)
  products = [jnp.dot(v, u[k]) for k, v in enumerate(_input_tiles(x))]
  return _output_image(products, batch, (height - 2) // 2, (width - 2) // 2)


@jax.custom_vjp
def _winograd_even(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return _winograd(x, kernel)


def _winograd_even_fwd(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
  return _winograd(x, kernel), (x, kernel)


def _winograd_even_bwd(residuals: tuple[jax.Array, jax.Array], dy: jax.Array) -> tuple[jax.Array, jax.Array]:
  x, kernel = residuals
  dx = _winograd(jnp.pad(dy, ((0, 0), (2, 2), (2, 2), (0, 0))), kernel[::-1, ::-1].transpose(0, 1, 3, 2))
  du = jnp.stack([jnp.dot(v.T, m) for v, m in zip(_input_tiles(x), _output_tiles(dy))])
  dkernel = jnp.einsum("ai,abco,bj->ijco", _G, du.reshape(4, 4, *du.shape[1:]), _G)
  return dx, dkernel


_winograd_even.defvjp(_winograd_even_fwd, _winograd_even_bwd)


def winograd_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """VALID 3x3 stride-1 convolution, NHWC x HWIO, by Winograd F(2x2, 3x3) in fp32; x's dtype out."""
  _, height, width, _ = x.shape
  odd_h, odd_w = height % 2, width % 2  # outputs (H - 2, W - 2) must be even: pad, then crop
  x32 = jnp.pad(x.astype(jnp.float32), ((0, 0), (0, odd_h), (0, odd_w), (0, 0)))
  y = _winograd_even(x32, kernel.astype(jnp.float32))
  return y[:, :height - 2, :width - 2].astype(x.dtype)


# Below this many 2x2 output tiles per call the 16 products are too small for the transforms to
# pay (2 AMD EPYC vCPUs, whole generator per frame: 256 tiles (sample size, batch 1) 14.8 -> 15.7 ms;
# 1,024 (paper size, batch 1) 742-775 -> 554 ms; 4,096 (sample size, batch 16) 237 -> 177 ms).
MIN_WINOGRAD_TILES = 1024


def uses_winograd(x_shape: tuple[int, ...], kernel_size: int, stride: int, padding: int) -> bool:
  """Whether `Conv` runs as Winograd: 3x3, stride 1, enough output tiles, on the CPU backend."""
  batch, height, width, _ = x_shape
  tiles = batch * ((height + 2 * padding - 1) // 2) * ((width + 2 * padding - 1) // 2)
  return kernel_size == 3 and stride == 1 and tiles >= MIN_WINOGRAD_TILES and jax.default_backend() == "cpu"


class Conv(nn.Module):
  """`nn.Conv` with a square kernel and equal zero padding on both axes.

  The same parameters (`kernel` (k, k, in, features), `bias`) and outputs; Winograd where
  `uses_winograd`.
  """

  features: int
  kernel_size: int
  strides: int = 1
  padding: int = 0
  use_bias: bool = True
  dtype: jnp.dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, p = self.kernel_size, self.padding
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), jnp.float32)
    x = x.astype(self.dtype)
    if uses_winograd(x.shape, k, self.strides, p):
      y = winograd_conv3x3(jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))), kernel)
    else:
      y = jax.lax.conv_general_dilated(x, kernel.astype(self.dtype), (self.strides,) * 2, ((p, p), (p, p)),
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(self.dtype)
    return y
