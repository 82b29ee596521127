"""GeometryPredictor (audio + pose + blink -> landmarks) and its discriminator.

docs/paper_and_code.md §1-§3. The official PyTorch modules are `APBNet` and
`Discriminator` in zhangzjn/APB2Face `landmark2face/APB/APBNet.py` (the
`audio2landmark` scripts import that file). Parameter names map as follows
(official `name.weight` / `name.bias` -> ours `name/kernel` / `name/bias`):

GeometryPredictor (1,723,359 parameters):

| official           | ours            | layer                                     |
|--------------------|-----------------|-------------------------------------------|
| audio1.{0,2,4,6,8} | freq_conv{1..5} | Conv k(1,3) s(1,2) p(0,1), 1->72->..->256 |
| audio2.{0,2,4,6}   | time_conv{1..4} | Conv k(3,1) s(2,1) p(1,0), 256->256       |
| audio2.8           | time_conv5      | Conv k(4,1) s(4,1), 256->256              |
| trans_audio.0      | audio_fc        | Linear 512->256                           |
| trans_pose.{0,2,4} | pose_fc{1,2,3}  | Linear 3->64->64->64                      |
| trans_eye.{0,2,4}  | blink_fc{1,2,3} | Linear 2->64->64->64                      |
| trans_cat.{0,2}    | fuse_fc{1,2}    | Linear 384->240->212                      |

LandmarkDiscriminator (1,880,385 parameters):

| official            | ours               | layer                         |
|---------------------|--------------------|-------------------------------|
| layers1.{0,2,4,6,8} | landmark_fc{1..5}  | Linear 212->512->...->512->64 |
| layers2.{0,2,4,6,8} | reference_fc{1..5} | Linear 212->512->...->512->64 |
| layers3.{0,2,4}     | head_fc{1,2,3}     | Linear 128->128->32->1        |

Weight layouts: a torch Linear weight (out, in) is our kernel transposed
(in, out); a torch Conv2d weight (out, in, kh, kw) is our kernel
`w.transpose(2, 3, 1, 0)` = (kh, kw, in, out). The audio input is NHWC here
(H = 64 time frames, W = 60 features, C = 1), torch's (N, 1, 64, 60) with the
channel moved last, so kernel sizes, strides and paddings carry over as they are.
With weights converted this way both modules reproduced the official ones
(torch 2.13, CPU, float32) within 3e-7.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from apb2face_jax.data.layout import NUM_POINTS


# Xavier (Glorot) normal with gain 1, untruncated as torch.nn.init.xavier_normal_.
xavier_normal = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")


def _dense(features: int, name: str, dtype: jnp.dtype) -> nn.Dense:
  return nn.Dense(
      features,
      dtype=dtype,
      param_dtype=jnp.float32,
      kernel_init=xavier_normal,
      bias_init=nn.initializers.zeros,
      name=name,
  )


def _conv(
    features: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    name: str,
    dtype: jnp.dtype,
) -> nn.Conv:
  return nn.Conv(
      features,
      kernel,
      strides=stride,
      padding=((padding[0], padding[0]), (padding[1], padding[1])),
      dtype=dtype,
      param_dtype=jnp.float32,
      kernel_init=xavier_normal,
      bias_init=nn.initializers.zeros,
      name=name,
  )


def _mlp(
    x: jax.Array,
    widths: Sequence[int],
    prefix: str,
    activation: Callable[[jax.Array], jax.Array],
    dtype: jnp.dtype,
) -> jax.Array:
  """Dense layers `{prefix}1..n` with `activation` between them (not after the last)."""
  for i, width in enumerate(widths):
    if i:
      x = activation(x)
    x = _dense(width, f"{prefix}{i + 1}", dtype)(x)
  return x


def _leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, negative_slope=0.2)


def nchw_flatten(x: jax.Array) -> jax.Array:
  """Flattens an NHWC batch in PyTorch's (C, H, W) order, as `x.view(B, -1)` on NCHW."""
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)


def to_points(landmarks: jax.Array) -> jax.Array:
  """(..., 212) interleaved x0, y0, x1, y1, ... -> (..., 106, 2)."""
  return landmarks.reshape(*landmarks.shape[:-1], -1, 2)


class GeometryPredictor(nn.Module):
  """MFCC window (B, 64, 60), pose (B, 3), blink (B, 2) -> landmarks (B, 212).

  Output points are 256x256 crop pixel coordinates, interleaved (x, y).
  """

  freq_channels: Sequence[int] = (72, 108, 162, 243, 256)
  audio_dim: int = 256
  side_dim: int = 64
  fuse_dim: int = 240
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, mfcc: jax.Array, pose: jax.Array, blink: jax.Array) -> jax.Array:
    x = mfcc[..., None]  # (B, T=64, F=60, 1)
    for i, width in enumerate(self.freq_channels):
      x = nn.relu(_conv(width, (1, 3), (1, 2), (0, 1), f"freq_conv{i + 1}", self.dtype)(x))
    width = self.freq_channels[-1]
    for i in range(4):
      x = nn.relu(_conv(width, (3, 1), (2, 1), (1, 0), f"time_conv{i + 1}", self.dtype)(x))
    x = nn.relu(_conv(width, (4, 1), (4, 1), (0, 0), "time_conv5", self.dtype)(x))
    audio = _dense(self.audio_dim, "audio_fc", self.dtype)(nchw_flatten(x))
    side = (self.side_dim,) * 3
    pose = _mlp(pose, side, "pose_fc", nn.relu, self.dtype)
    blink = _mlp(blink, side, "blink_fc", nn.relu, self.dtype)
    fused = jnp.concatenate([audio, pose, blink], axis=-1)
    return _mlp(fused, (self.fuse_dim, 2 * NUM_POINTS), "fuse_fc", nn.relu, self.dtype)


class LandmarkDiscriminator(nn.Module):
  """D_L: (landmarks (B, 212), reference landmarks (B, 212)) -> raw logit (B, 1)."""

  hidden_dim: int = 512
  embed_dim: int = 64
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, landmarks: jax.Array, reference: jax.Array) -> jax.Array:
    widths = (self.hidden_dim,) * 4 + (self.embed_dim,)
    x = _mlp(landmarks, widths, "landmark_fc", _leaky_relu, self.dtype)
    r = _mlp(reference, widths, "reference_fc", _leaky_relu, self.dtype)
    joint = jnp.concatenate([x, r], axis=-1)
    return _mlp(joint, (128, 32, 1), "head_fc", _leaky_relu, self.dtype)
