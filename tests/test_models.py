"""Shapes, parameter counts and PyTorch-layout equivalences of the Flax modules."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from apb2face_jax.errors import UserError
from apb2face_jax.models import conv, predictor, reenactor


def _key(seed: int = 0) -> jax.Array:
  """A PRNG key that compiles fast: threefry inits of many shapes take ~10 s to compile on CPU."""
  return jax.random.key(seed, impl="unsafe_rbg")


def _count(variables) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(variables))


def _abstract_init(module, *args, **kwargs):
  init = functools.partial(module.init, **kwargs)
  return jax.eval_shape(init, _key(0), *args)


def _predictor_inputs(batch: int = 2):
  rng = np.random.default_rng(0)
  return (
      jnp.asarray(rng.normal(size=(batch, 64, 60)), jnp.float32),
      jnp.asarray(rng.normal(size=(batch, 3)), jnp.float32),
      jnp.asarray(rng.normal(size=(batch, 2)), jnp.float32),
  )


def test_predictor_count_and_shape():
  model = predictor.GeometryPredictor()
  inputs = _predictor_inputs()
  variables = model.init(_key(0), *inputs)
  assert _count(variables["params"]) == 1_723_359
  out = model.apply(variables, *inputs)
  assert out.shape == (2, 212)
  points = predictor.to_points(out)
  assert points.shape == (2, 106, 2)
  np.testing.assert_array_equal(points[:, 3], out[:, 6:8])


def test_predictor_dtype_keeps_float32_params():
  model = predictor.GeometryPredictor(dtype=jnp.bfloat16)
  inputs = _predictor_inputs()
  variables = model.init(_key(0), *inputs)
  assert {x.dtype for x in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
  assert model.apply(variables, *inputs).dtype == jnp.bfloat16


def test_predictor_init_is_xavier_normal_zero_bias():
  variables = predictor.GeometryPredictor().init(_key(0), *_predictor_inputs())
  kernel = variables["params"]["time_conv1"]["kernel"]  # (3, 1, 256, 256)
  std = np.sqrt(2.0 / (3 * 256 + 3 * 256))
  assert abs(float(kernel.std()) / std - 1) < 0.02
  assert not np.any(variables["params"]["time_conv1"]["bias"])


def test_flatten_follows_torch_chw_order():
  x = np.arange(2 * 1 * 2 * 256, dtype=np.float32).reshape(2, 1, 2, 256)  # NHWC
  expected = np.transpose(x, (0, 3, 1, 2)).reshape(2, -1)
  np.testing.assert_array_equal(predictor.nchw_flatten(jnp.asarray(x)), expected)


def test_predictor_feeds_chw_flattened_audio_to_linear():
  model = predictor.GeometryPredictor()
  inputs = _predictor_inputs()
  variables = model.init(_key(0), *inputs)
  _, state = model.apply(variables, *inputs, capture_intermediates=True)
  conv_out = np.asarray(state["intermediates"]["time_conv5"]["__call__"][0])  # (B, 1, 2, 256)
  audio = np.asarray(state["intermediates"]["audio_fc"]["__call__"][0])
  assert conv_out.shape == (2, 1, 2, 256)
  feature = np.maximum(conv_out, 0).transpose(0, 3, 1, 2).reshape(2, 512)
  fc = variables["params"]["audio_fc"]
  np.testing.assert_allclose(audio, feature @ fc["kernel"] + fc["bias"], rtol=1e-5, atol=1e-5)


def test_landmark_discriminator_count_and_shape():
  model = predictor.LandmarkDiscriminator()
  x = jnp.ones((2, 212))
  variables = model.init(_key(0), x, x)
  assert _count(variables["params"]) == 1_880_385
  assert model.apply(variables, x, 2 * x).shape == (2, 1)


def test_resnet_generator_count_and_shape_at_256():
  model = reenactor.make_generator("resnet_9blocks_l2face")
  x = jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)
  variables = _abstract_init(model, x, train=False)
  assert set(variables) == {"params"}
  assert _count(variables["params"]) == 16_688_899
  out = jax.eval_shape(functools.partial(model.apply, train=False), variables, x)
  assert out.shape == (1, 256, 256, 3)


@pytest.mark.parametrize("norm,count", [("batch", 54_413_955), ("instance", 54_409_603)])
def test_unet_256_count(norm: str, count: int):
  model = reenactor.make_generator("unet_256", norm=norm)
  x = jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)
  variables = _abstract_init(model, x, train=False)
  assert _count(variables["params"]) == count
  assert ("batch_stats" in variables) == (norm == "batch")


def test_patch_discriminator_count_and_shape_at_256():
  model = reenactor.PatchDiscriminator()
  x = jax.ShapeDtypeStruct((2, 256, 256, 6), jnp.float32)
  variables = _abstract_init(model, x)
  assert _count(variables["params"]) == 2_767_809
  assert jax.eval_shape(model.apply, variables, x).shape == (2, 30, 30, 1)


def test_small_resnet_generator_forward():
  model = reenactor.ResnetGenerator(ngf=8, n_blocks=2)
  x = jax.random.uniform(_key(1), (2, 64, 64, 3), minval=-1, maxval=1)
  variables = model.init(_key(0), x, train=False)
  out = model.apply(variables, x, train=False)
  assert out.shape == (2, 64, 64, 3)
  assert float(jnp.abs(out).max()) <= 1.0
  np.testing.assert_array_equal(out, model.apply(variables, x, train=False))
  dropped = model.apply(variables, x, train=True, rngs={"dropout": _key(2)})
  assert dropped.shape == out.shape
  assert not np.allclose(dropped, out)


def test_small_unet_forward_updates_batch_stats():
  model = reenactor.UnetGenerator(ngf=4, num_downs=6)
  x = jax.random.uniform(_key(1), (2, 64, 64, 3), minval=-1, maxval=1)
  variables = model.init(_key(0), x, train=False)
  out, state = model.apply(
      variables, x, train=True, rngs={"dropout": _key(2)}, mutable=["batch_stats"]
  )
  assert out.shape == (2, 64, 64, 3)
  assert float(jnp.abs(out).max()) <= 1.0
  before = variables["batch_stats"]["up_norm_1"]["mean"]
  assert not np.allclose(state["batch_stats"]["up_norm_1"]["mean"], before)


def test_make_generator_rejects_unknown_name():
  with pytest.raises(UserError, match="resnet_9blocks_l2face"):
    reenactor.make_generator("resnet_6blocks")


def _torch_conv_transpose(x, weight, bias, padding, output_padding):
  """Reference torch.nn.ConvTranspose2d(stride=2) on NCHW numpy arrays, by scattering."""
  batch, _, height, width = x.shape
  _, out_ch, k, _ = weight.shape
  full_h, full_w = 2 * (height - 1) + k + output_padding, 2 * (width - 1) + k + output_padding
  full = np.zeros((batch, out_ch, full_h, full_w))
  for y in range(height):
    for z in range(width):
      tap = np.einsum("ni,iokl->nokl", x[:, :, y, z], weight)
      full[:, :, 2 * y : 2 * y + k, 2 * z : 2 * z + k] += tap
  out = full[:, :, padding : full_h - padding, padding : full_w - padding]
  return out + bias[None, :, None, None]


@pytest.mark.parametrize("kernel,padding,output_padding", [(3, 1, 1), (4, 1, 0)])
def test_conv_transpose_matches_torch_semantics(kernel: int, padding: int, output_padding: int):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 6, 7)).astype(np.float32)  # NCHW
  weight = rng.normal(size=(5, 4, kernel, kernel)).astype(np.float32)  # torch (in, out, kh, kw)
  bias = rng.normal(size=(4,)).astype(np.float32)
  expected = _torch_conv_transpose(x, weight, bias, padding, output_padding)
  assert expected.shape == (2, 4, 12, 14)
  layer = reenactor._conv_transpose(4, kernel, padding, output_padding, "up", jnp.float32)
  params = {"params": {"kernel": weight.transpose(2, 3, 1, 0), "bias": bias}}
  out = layer.apply(params, jnp.asarray(x.transpose(0, 2, 3, 1)))
  np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fast,plain", [
    (reenactor.SubpixelConvTranspose(4), reenactor._conv_transpose(4, 3, 1, 1, "up", jnp.float32)),
    (reenactor.RowSumConv(3, 7), reenactor._conv(3, 7, "head", jnp.float32)),
], ids=["subpixel_transpose", "row_sum_head"])
def test_fast_formulations_equal_the_plain_layers(fast, plain):
  """Same parameters, same outputs and input gradients as the layers they stand for."""
  x = jax.random.normal(jax.random.key(0), (2, 12, 10, 5))
  params = plain.init(jax.random.key(1), x)
  assert jax.tree.map(jnp.shape, fast.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
  np.testing.assert_allclose(fast.apply(params, x), plain.apply(params, x), rtol=1e-5, atol=1e-5)
  grad = lambda layer: jax.grad(lambda x: jnp.sum(jnp.sin(layer.apply(params, x))))(x)  # noqa: E731
  np.testing.assert_allclose(grad(fast), grad(plain), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 12, 10, 5), (1, 9, 7, 3)], ids=["even_output", "odd_output"])
def test_winograd_equals_the_direct_convolution(shape):
  """Outputs and both gradients (the custom VJP) of Winograd F(2x2, 3x3), against lax's convolution."""
  x = jax.random.normal(jax.random.key(0), shape)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, shape[-1], 4))
  direct = lambda x, w: jax.lax.conv_general_dilated(  # noqa: E731
      x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), precision="highest")
  np.testing.assert_allclose(conv.winograd_conv3x3(x, kernel), direct(x, kernel), rtol=1e-5, atol=1e-4)
  grads = lambda f: jax.grad(lambda x, w: jnp.sum(jnp.sin(f(x, w))), argnums=(0, 1))(x, kernel)  # noqa: E731
  for ours, theirs in zip(grads(conv.winograd_conv3x3), grads(direct)):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_conv_layer_takes_winograd_only_where_it_pays_and_equals_nn_conv():
  big, small = (1, 64, 64, 3), (1, 16, 16, 3)  # 1,024 and 64 output tiles at padding 1
  assert conv.uses_winograd(big, 3, 1, 1) and not conv.uses_winograd(small, 3, 1, 1)
  assert not conv.uses_winograd(big, 3, 2, 1) and not conv.uses_winograd(big, 4, 1, 1)
  x = jax.random.normal(jax.random.key(0), big)
  ours = conv.Conv(4, 3, padding=1, kernel_init=nn.initializers.normal(0.5))
  params = ours.init(jax.random.key(1), x)
  theirs = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)))
  assert jax.tree.map(jnp.shape, theirs.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-5, atol=1e-4)


def test_instance_norm_matches_torch_definition():
  x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 5, 4, 3)).astype(np.float32)
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)  # biased, as InstanceNorm2d
  expected = (x - mean) / np.sqrt(var + 1e-5)
  out = reenactor.instance_norm(jnp.asarray(x))
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_reflect_pad_matches_reflection_pad2d():
  x = jnp.arange(3.0).reshape(1, 1, 3, 1)
  np.testing.assert_array_equal(reenactor.reflect_pad(x, 1)[0, 1, :, 0], [1.0, 0.0, 1.0, 2.0, 1.0])
