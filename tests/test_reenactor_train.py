"""The reenactor's pure D-then-G step on a tiny network: it learns, bf16 runs, 2 devices = 1."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from apb2face_jax.data import splits
from apb2face_jax.train import parallel
from apb2face_jax import jobs
from apb2face_jax.errors import UserError
from apb2face_jax.train.reenactor_task import ReenactorTask, face_region_l1, make_optimizer
from configs import reenactor as reenactor_config
from tests.conftest import run_steps as run_task_steps


def tiny_config(**overrides):
  config = reenactor_config.get_config("sample")
  config.update(dict(image_size=32, ngf=4, ndf=4, batch_size=4, **overrides))
  config.generator_kwargs.n_blocks = 1
  return config


def fixed_batch(n: int = 4) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  landmarks = rng.uniform(60, 200, size=(n, 106, 2)).astype(np.float32)
  image = np.zeros((n, 256, 256, 3), np.float32) - 0.5
  image[:, 96:160, 80:176] = 0.6  # a bright "face" the generator has to learn to draw
  return {"image": image, "ref_image": image[::-1].copy(), "landmarks": landmarks}


def run_steps(config, mesh, batch, steps):
  return run_task_steps(ReenactorTask(config, steps_per_epoch=100), mesh, batch, steps)


def test_steps_lower_the_l1_on_a_fixed_batch():
  _, history = run_steps(tiny_config(), parallel.make_mesh(jax.devices()[:1]), fixed_batch(), steps=25)
  assert history[-1]["l1"] < 0.7 * history[0]["l1"]
  assert all(np.isfinite(h["loss_d"]) and h["mask_l1"] > 0 for h in history)


def test_mask_weight_zero_is_the_official_loss():
  _, history = run_steps(tiny_config(mask_weight=0.0), parallel.make_mesh(jax.devices()[:1]), fixed_batch(), 1)
  h = history[0]
  np.testing.assert_allclose(h["loss_g"], h["adv_g"] + 100 * h["l1"], rtol=1e-5)


def test_bfloat16_step_is_finite_and_keeps_float32_parameters():
  state, history = run_steps(tiny_config(dtype="bfloat16"), parallel.make_mesh(jax.devices()[:1]), fixed_batch(), 2)
  assert all(np.isfinite(v) for v in history[-1].values())
  assert {x.dtype for x in jax.tree.leaves((state.g_params, state.d_params))} == {jnp.dtype("float32")}


def test_two_device_step_equals_one_device_step():
  config = tiny_config(dropout_rate=0.0)  # dropout masks depend on how the batch is split
  single, _ = run_steps(config, parallel.make_mesh(jax.devices()[:1]), fixed_batch(), 2)
  double, _ = run_steps(config, parallel.make_mesh(jax.devices()[:2]), fixed_batch(), 2)
  a = np.concatenate([np.ravel(x) for x in jax.tree.leaves((single.g_params, single.d_params))])
  b = np.concatenate([np.ravel(x) for x in jax.tree.leaves((double.g_params, double.d_params))])
  # Adam's sign-like first steps: near-zero gradients may flip (<= 2 lr); everything else agrees to 1e-5.
  assert np.mean(np.abs(a - b) <= 1e-5) > 0.99
  assert np.max(np.abs(a - b)) <= 2 * 2 * 2e-4


def test_schedule_is_constant_then_linear_to_zero():
  config = tiny_config(epochs_constant=2, epochs_decay=2)
  schedule = make_optimizer(config, steps_per_epoch=10)
  tx_state = schedule.init({"w": jnp.zeros(())})
  sizes = []
  for _ in range(40):
    updates, tx_state = schedule.update({"w": jnp.ones(())}, tx_state)
    sizes.append(float(jnp.abs(updates["w"])))
  assert abs(sizes[5] - 2e-4) < 1e-6 and abs(sizes[19] - 2e-4) < 1e-6
  assert sizes[30] < 0.6 * sizes[19] and sizes[39] < 0.1 * sizes[19]


def test_face_region_l1_ignores_the_background():
  landmarks = jnp.asarray(np.random.default_rng(1).uniform(10, 22, (1, 106, 2)), jnp.float32)
  real = jnp.zeros((1, 32, 32, 3))
  fake = real.at[:, 0, 0].set(1.0)  # a corner pixel, outside the face
  assert float(face_region_l1(fake, real, landmarks)[0]) == 0.0


class _Images(list):
  """A stand-in for a TFDS data source: `__getitems__` of {'image': PNG bytes} records."""

  def __getitems__(self, indices):
    return [{"image": self[i]} for i in indices]


def _split(images: list[np.ndarray], landmarks: np.ndarray, identities: list[str]) -> splits.Split:
  encoded = []
  for image in images:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    encoded.append(buffer.getvalue())
  names = sorted(set(identities))
  return splits.Split(columns={"landmarks": landmarks.astype(np.float32)},
                              identity=np.asarray([names.index(x) for x in identities], np.int32),
                              identity_names=names, images=_Images(encoded), fps=30.0)


def test_baselines_mean_face_and_nearest_frame_of_the_same_identity():
  rng = np.random.default_rng(0)
  faces = [np.full((256, 256, 3), value, np.uint8) for value in (64, 192, 128)]  # mean: 128
  points = rng.uniform(60, 200, (3, 106, 2))
  # Test frame: face 0's image with landmarks a bit off face 0's, exactly on face 2's, which
  # belongs to someone else and must not be picked.
  points[2] = points[0] + 3.0
  train = _split(faces, points, ["me", "me", "other"])
  test = _split([faces[0]], points[2:], ["me"])
  result = ReenactorTask(tiny_config(), steps_per_epoch=1).baselines(train, test)
  assert result["nearest_frame_l1"] < 1e-6 and result["nearest_frame_face_l1"] < 1e-6
  np.testing.assert_allclose([result["mean_face_l1"], result["mean_face_face_l1"]], 64 / 127.5, rtol=1e-5)


@pytest.mark.parametrize("field, value", [("dropout_rate", 1.0), ("landmark_radius", -1), ("mask_weight", -0.5)])
def test_impossible_reenactor_settings_are_refused_by_name(field, value):
  config = tiny_config(**{field: value})
  with pytest.raises(UserError, match=rf"config\.{field}=.* is not valid"):
    jobs.check_training_config(config)


def test_unet_generator_trains_from_the_config_and_records_its_own_settings():
  config = tiny_config(generator="unet_256")
  config.generator_kwargs.num_downs = 5  # 32x32 -> 1x1
  task = ReenactorTask(config, steps_per_epoch=100)
  assert task.model.settings["generator_kwargs"] == {"num_downs": 5, "norm": "instance"}
  assert task.model.shape_meta()["generator_kwargs"] == {"num_downs": 5, "norm": "instance"}
  mesh = parallel.make_mesh()
  _, history = run_steps(config, mesh, fixed_batch(), 2)
  assert all(np.isfinite(float(m["l1"])) for m in history)


def test_a_generator_setting_no_generator_has_is_refused_by_name():
  config = tiny_config()
  config.generator_kwargs.n_block = 3
  with pytest.raises(UserError, match=r"generator_kwargs \['n_block'\]"):
    ReenactorTask(config, steps_per_epoch=1)
