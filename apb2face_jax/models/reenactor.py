"""FaceReenactor networks: landmark image -> face generators and the PatchGAN.

docs/paper_and_code.md §4. Images are NHWC in [-1, 1]. The official modules are in
zhangzjn/APB2Face `landmark2face/models/networks_l2face.py`
(`ResnetL2FaceGenerator`) and `networks.py` (`UnetGenerator`,
`NLayerDiscriminator`), built with norm='instance', dropout on,
init Normal(0, 0.02). Parameter names map as follows (official `name.weight` /
`name.bias` -> ours `name/kernel` / `name/bias`; n = n_downsampling):

ResnetGenerator ('resnet_9blocks_l2face', 16,688,899 parameters):

| official                      | ours                  | layer                         |
|-------------------------------|-----------------------|-------------------------------|
| model1.1                      | stem                  | ReflectPad 3, Conv 7x7 -> ngf |
| model1.{3i+4}                 | down_{i}              | Conv 3x3 s2 p1                |
| model2.{b}.shortcut.0         | block_{b}/shortcut    | Conv 3x3 p1 (zero pad)        |
| model2.{b}.conv_block.1       | block_{b}/conv_0      | ReflectPad 1, Conv 3x3        |
| model2.{b}.conv_block.6       | block_{b}/conv_1      | ReflectPad 1, Conv 3x3        |
| model3.{3i}                   | up_{i}                | ConvTranspose 3x3 s2 p1 op1   |
| model3.{3n+1}                 | head                  | ReflectPad 3, Conv 7x7 -> 3 (RowSumConv) |

(`conv_block.6` assumes dropout on, as in the official training; with
`--no_dropout` it is `conv_block.5`.) Convolutions go through `conv.Conv`
(the same parameters as `nn.Conv`), which runs the blocks' 3x3 convolutions as
Winograd F(2x2, 3x3) on CPU.

PatchDiscriminator ('basic' NLayerDiscriminator, 6 input channels, 2,767,809
parameters): official `model.0` -> `conv_0`; `model.{3k-1}` -> `conv_{k}`
for k = 1 .. n_layers + 1 (model.2, .5, .8, .11 for n_layers 3).

UnetGenerator ('unet_256'): see its docstring.

Weight layouts: a torch Conv2d weight (out, in, kh, kw) is our kernel
`w.transpose(2, 3, 1, 0)`; a torch ConvTranspose2d weight (in, out, kh, kw)
is our kernel `w.transpose(2, 3, 1, 0)` too, i.e. (kh, kw, out, in), because
our transposed convolutions use `transpose_kernel=True` (the gradient-of-conv
form PyTorch uses). BatchNorm weight/bias/running_mean/running_var ->
scale/bias (params) and mean/var (batch_stats). With weights converted this
way all three networks reproduced the official modules (torch 2.13, CPU,
float32; the U-Net with BatchNorm in train and eval mode) within 1.1e-5.
"""

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from apb2face_jax.errors import UserError
from apb2face_jax.models.conv import Conv

normal_init = nn.initializers.normal(0.02)


def batch_norm_scale_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
  """Normal(1, 0.02), the pix2pix init of BatchNorm weights."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def instance_norm(x: jax.Array, epsilon: float = 1e-5) -> jax.Array:
  """InstanceNorm without affine over H, W of an NHWC batch (torch.nn.InstanceNorm2d).

  Statistics are computed in float32 with the biased variance, as PyTorch does.
  """
  x32 = x.astype(jnp.float32)
  mean = x32.mean(axis=(1, 2), keepdims=True)
  var = jnp.square(x32 - mean).mean(axis=(1, 2), keepdims=True)
  return ((x32 - mean) * jax.lax.rsqrt(var + epsilon)).astype(x.dtype)


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """torch.nn.ReflectionPad2d(pad) on an NHWC batch."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def _conv(
    features: int,
    kernel: int,
    name: str,
    dtype: jnp.dtype,
    stride: int = 1,
    padding: int = 0,
    use_bias: bool = True,
) -> Conv:
  return Conv(features, kernel, stride, padding, use_bias, dtype, normal_init, name=name)


def _conv_transpose(
    features: int,
    kernel: int,
    padding: int,
    output_padding: int,
    name: str,
    dtype: jnp.dtype,
    use_bias: bool = True,
) -> nn.ConvTranspose:
  """torch.nn.ConvTranspose2d(kernel, stride=2, padding, output_padding).

  PyTorch's transposed convolution equals a convolution of the 2x-dilated input
  with the spatially flipped, in/out-swapped kernel (`transpose_kernel=True`)
  and explicit padding (k - 1 - p, k - 1 - p + op) on each spatial axis.
  """
  lo = kernel - 1 - padding
  return nn.ConvTranspose(
      features,
      (kernel, kernel),
      strides=(2, 2),
      padding=((lo, lo + output_padding), (lo, lo + output_padding)),
      transpose_kernel=True,
      use_bias=use_bias,
      dtype=dtype,
      param_dtype=jnp.float32,
      kernel_init=normal_init,
      bias_init=nn.initializers.zeros,
      name=name,
  )


# Output phase -> ((input offset, kernel tap), ...) of ConvTranspose2d(3, stride 2, padding 1,
# output_padding 1) along one axis: y[2m] = x[m] w[1]; y[2m + 1] = x[m] w[2] + x[m + 1] w[0].
_SUBPIXEL_TAPS = {0: ((0, 1),), 1: ((0, 2), (1, 0))}


class SubpixelConvTranspose(nn.Module):
  """torch.nn.ConvTranspose2d(3, stride=2, padding=1, output_padding=1), computed sub-pixel.

  Same parameters (`kernel` (3, 3, out, in) as `nn.ConvTranspose(transpose_kernel=True)`
  holds it, `bias`) and the same output as `_conv_transpose(features, 3, 1, 1, ...)`, but as
  one 2x2 convolution to 4 x out channels followed by depth-to-space: no multiplications
  with the zeros a dilated input would hold (16 instead of 36 multiply-adds per input pixel
  and channel pair), which XLA:CPU's backward pass pays for most.
  """

  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cin = x.shape[-1]
    kernel = self.param("kernel", normal_init, (3, 3, self.features, cin), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    sub = jnp.zeros((2, 2, cin, 2, 2, self.features), jnp.float32)
    for a, row_taps in _SUBPIXEL_TAPS.items():
      for b, col_taps in _SUBPIXEL_TAPS.items():
        for dy, ky in row_taps:
          for dx, kx in col_taps:
            sub = sub.at[dy, dx, :, a, b, :].set(kernel[ky, kx].T)
    sub = sub.reshape(2, 2, cin, 4 * self.features).astype(self.dtype)
    y = jax.lax.conv_general_dilated(x.astype(self.dtype), sub, (1, 1), ((0, 1), (0, 1)),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    batch, height, width, _ = y.shape
    y = y.reshape(batch, height, width, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(batch, 2 * height, 2 * width, self.features) + bias.astype(self.dtype)


class RowSumConv(nn.Module):
  """A k x k, stride 1, unpadded convolution to few channels (the generator's 7x7 -> RGB head).

  Same parameters (`kernel` (k, k, in, features), `bias`) and output as
  `nn.Conv(features, (k, k), padding='VALID')`, computed as one 1 x k convolution to
  k * features channels (one group per kernel row) and a sum of the k groups shifted by
  their row. XLA:CPU runs a convolution with 3 output channels at a tenth of its matmul
  rate (the paper-size head alone: 20 GFLOP/s); this form took the paper-size generator
  from 796 to 750 ms a frame on 2 CPU cores, the sample-size one from 16.0 to 13.3 ms.
  """

  features: int
  kernel_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, cin = self.kernel_size, x.shape[-1]
    kernel = self.param("kernel", normal_init, (k, k, cin, self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    rows = kernel.transpose(1, 2, 0, 3).reshape(1, k, cin, k * self.features)  # out channel (row, feature)
    z = jax.lax.conv_general_dilated(x.astype(self.dtype), rows.astype(self.dtype), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     preferred_element_type=jnp.float32)
    batch, height, width, _ = z.shape
    z = z.reshape(batch, height, width, k, self.features)
    out_height = height - k + 1
    y = sum(z[:, row:row + out_height, :, row] for row in range(k)) + bias
    return y.astype(self.dtype)


class ResnetBlock(nn.Module):
  """out = IN(Conv3x3(x)) + body(x), with the learned shortcut of the l2face block."""

  features: int
  dropout_rate: float = 0.5
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    shortcut = instance_norm(_conv(self.features, 3, "shortcut", self.dtype, padding=1)(x))
    y = _conv(self.features, 3, "conv_0", self.dtype)(reflect_pad(x, 1))
    y = nn.relu(instance_norm(y))
    y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = instance_norm(_conv(self.features, 3, "conv_1", self.dtype)(reflect_pad(y, 1)))
    return shortcut + y


class ResnetGenerator(nn.Module):
  """The 'resnet_9blocks_l2face' generator: landmark image (B, H, W, 3) -> face in [-1, 1].

  H and W must be multiples of 2**n_downsampling. Dropout draws from the
  'dropout' rng when `train` is True.
  """

  output_channels: int = 3
  ngf: int = 64
  n_blocks: int = 9
  n_downsampling: int = 2
  dropout_rate: float = 0.5
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = _conv(self.ngf, 7, "stem", self.dtype)(reflect_pad(x, 3))
    x = nn.relu(instance_norm(x))
    for i in range(self.n_downsampling):
      x = _conv(self.ngf * 2 ** (i + 1), 3, f"down_{i}", self.dtype, stride=2, padding=1)(x)
      x = nn.relu(instance_norm(x))
    width = self.ngf * 2**self.n_downsampling
    for b in range(self.n_blocks):
      x = ResnetBlock(width, self.dropout_rate, self.dtype, name=f"block_{b}")(x, train)
    for i in range(self.n_downsampling):
      x = SubpixelConvTranspose(width // 2 ** (i + 1), self.dtype, name=f"up_{i}")(x)
      x = nn.relu(instance_norm(x))
    x = RowSumConv(self.output_channels, 7, self.dtype, name="head")(reflect_pad(x, 3))
    return jnp.tanh(x)


class UnetGenerator(nn.Module):
  """pix2pix U-Net ('unet_256' = 8 downsamplings: 256x256 -> 1x1 bottleneck).

  Level l = 0 .. L-1 (L = num_downs) has `down_{l}` (Conv 4x4 s2 p1 to
  w_l = min(ngf * 2**l, ngf * 8) channels) and `up_{l}` (ConvTranspose 4x4 s2
  p1 back to w_{l-1} channels, or `output_channels` at level 0), with norms
  `down_norm_{l}` (0 < l < L-1) and `up_norm_{l}` (l > 0). LeakyReLU 0.2
  precedes every down conv but the first, ReLU every up conv; tanh at the
  end; dropout follows `up_norm_{l}` for 4 <= l <= L-2 (the ngf*8 middle
  levels). Each level l > 0 returns concat[skip, up output] on channels. The
  skip is the level's input AFTER the LeakyReLU: the official in-place
  LeakyReLU overwrites the tensor that is later concatenated.

  norm 'batch' (pix2pix's choice; convs feeding a norm have no bias; running
  statistics live in 'batch_stats', updated when `train` is True, so apply
  with `mutable=['batch_stats']` then; PyTorch keeps the unbiased variance
  there, Flax the biased one) or 'instance' (what APB2Face's own options,
  norm='instance', give: no affine, all biases on). unet_256, ngf 64, 3 -> 3
  channels: 54,413,955 parameters with 'batch', 54,409,603 with 'instance'.

  Official names (`UnetGenerator.model` nests `UnetSkipConnectionBlock`s):
  with P_0 = `model.model.` and P_l = P_0 + `1.model.` + `3.model.` * (l-1),
  level 0 is down P_0`0`, up P_0`3`; a middle level is down P_l`1`, down norm
  P_l`2`, up P_l`5`, up norm P_l`6`; the innermost is down P_l`1`, up P_l`3`,
  up norm P_l`4`.
  """

  output_channels: int = 3
  ngf: int = 64
  num_downs: int = 8
  norm: str = "batch"
  dropout_rate: float = 0.5
  dtype: jnp.dtype = jnp.float32

  def _norm(self, name: str, train: bool) -> Callable[[jax.Array], jax.Array]:
    if self.norm == "instance":
      return instance_norm
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        dtype=self.dtype,
        param_dtype=jnp.float32,
        scale_init=batch_norm_scale_init,
        name=name,
    )

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.norm not in ("batch", "instance"):
      raise UserError(f"UnetGenerator norm must be 'batch' or 'instance', not {self.norm!r}.")
    use_bias = self.norm == "instance"
    depth = self.num_downs
    widths = [min(self.ngf * 2**level, self.ngf * 8) for level in range(depth)]
    skips = []
    for level in range(depth):
      if level:
        x = nn.leaky_relu(x, 0.2)
        skips.append(x)
      x = _conv(widths[level], 4, f"down_{level}", self.dtype, 2, 1, use_bias)(x)
      if 0 < level < depth - 1:
        x = self._norm(f"down_norm_{level}", train)(x)
    for level in range(depth - 1, 0, -1):
      up = _conv_transpose(widths[level - 1], 4, 1, 0, f"up_{level}", self.dtype, use_bias)
      x = up(nn.relu(x))
      x = self._norm(f"up_norm_{level}", train)(x)
      if 4 <= level < depth - 1:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = jnp.concatenate([skips[level - 1], x], axis=-1)
    x = _conv_transpose(self.output_channels, 4, 1, 0, "up_0", self.dtype)(nn.relu(x))
    return jnp.tanh(x)


class PatchDiscriminator(nn.Module):
  """70x70 PatchGAN: concat(reference photo, face) (B, H, W, 6) -> logits (B, H/8-2, W/8-2, 1).

  30x30 logits for 256x256 input. InstanceNorm without affine, so every conv
  has a bias (pix2pix drops it only before BatchNorm).
  """

  ndf: int = 64
  n_layers: int = 3
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.leaky_relu(_conv(self.ndf, 4, "conv_0", self.dtype, stride=2, padding=1)(x), 0.2)
    for k in range(1, self.n_layers + 1):
      stride = 2 if k < self.n_layers else 1
      width = self.ndf * min(2**k, 8)
      x = _conv(width, 4, f"conv_{k}", self.dtype, stride=stride, padding=1)(x)
      x = nn.leaky_relu(instance_norm(x), 0.2)
    return _conv(1, 4, f"conv_{self.n_layers + 1}", self.dtype, padding=1)(x)


GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks_l2face": functools.partial(ResnetGenerator, n_blocks=9),
    "unet_256": functools.partial(UnetGenerator, num_downs=8),
}


# The `generator_kwargs` each generator takes; a config holds every generator's, the chosen one reads its own.
GENERATOR_SETTINGS: dict[str, tuple[str, ...]] = {
    "resnet_9blocks_l2face": ("n_blocks",),
    "unet_256": ("num_downs", "norm"),
}


def generator_settings(name: str, kwargs: dict) -> dict:
  """The entries of `kwargs` that generator `name` takes; a name no generator takes is an error."""
  if name not in GENERATORS:
    raise UserError(f"Unknown generator {name!r}; choose one of {sorted(GENERATORS)}.")
  known = {k for names in GENERATOR_SETTINGS.values() for k in names}
  unknown = sorted(set(kwargs) - known)
  if unknown:
    raise UserError(f"generator_kwargs {unknown} is not a setting of any generator; "
                    f"the settings are {GENERATOR_SETTINGS}.")
  return {k: kwargs[k] for k in GENERATOR_SETTINGS[name] if k in kwargs}


def make_generator(name: str, **kwargs) -> nn.Module:
  """Builds the generator `name` (a key of GENERATORS) with module attributes `kwargs`."""
  if name not in GENERATORS:
    raise UserError(f"Unknown generator {name!r}; choose one of {sorted(GENERATORS)}.")
  return GENERATORS[name](**kwargs)
