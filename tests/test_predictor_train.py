"""The predictor's pure train step: it learns, and data parallelism changes nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from apb2face_jax.train import parallel
from apb2face_jax.train.predictor_task import PredictorTask, make_optimizer
from configs import predictor as predictor_config
from tests.conftest import fixed_batch, run_steps


def make_task(**overrides) -> PredictorTask:
  config = predictor_config.get_config()
  config.update(overrides)
  return PredictorTask(config, steps_per_epoch=10)


def test_train_step_lowers_l1_on_a_fixed_batch():
  _, history = run_steps(make_task(), parallel.make_mesh(jax.devices()[:1]), fixed_batch(), steps=50)
  assert history[-1]["l1_px"] < 0.5 * history[0]["l1_px"]
  assert all(np.isfinite(h["loss_d"]) for h in history)


def test_l1_only_ablation_leaves_the_discriminator_untouched():
  task = make_task(use_discriminator=False)
  state, history = run_steps(task, parallel.make_mesh(jax.devices()[:1]), fixed_batch(), steps=2)
  assert "loss_d" not in history[0] and history[0]["adv_g"] == 0.0
  initial = task.create_state(jax.random.key(0))
  for before, after in zip(jax.tree.leaves(initial.d_params), jax.tree.leaves(state.d_params)):
    np.testing.assert_array_equal(before, after)
  assert any(not np.array_equal(b, a) for b, a in zip(jax.tree.leaves(initial.g_params),
                                                     jax.tree.leaves(state.g_params)))


def test_two_device_step_equals_one_device_step():
  assert jax.device_count() >= 2, "conftest sets 2 CPU devices"
  batch = fixed_batch()
  single, _ = run_steps(make_task(), parallel.make_mesh(jax.devices()[:1]), batch, steps=3)
  double, _ = run_steps(make_task(), parallel.make_mesh(jax.devices()[:2]), batch, steps=3)
  a = np.concatenate([np.ravel(x) for x in jax.tree.leaves((single.g_params, single.d_params))])
  b = np.concatenate([np.ravel(x) for x in jax.tree.leaves((double.g_params, double.d_params))])
  # Adam divides by sqrt(v): where a gradient is ~0 (dead ReLUs) reduction-order noise can flip
  # its sign and move that parameter by up to 2 lr per step. Everything else agrees to 1e-5.
  assert np.mean(np.abs(a - b) <= 1e-5) > 0.99
  assert np.max(np.abs(a - b)) <= 2 * 3 * 3e-4
  # Replicas stay identical: every device holds the same parameters.
  leaf = jax.tree.leaves(double.g_params)[0]
  shards = [np.asarray(s.data) for s in leaf.addressable_shards]
  assert len(shards) == 2 and np.array_equal(shards[0], shards[1])


def test_two_device_gradients_equal_one_device_gradients():
  task, batch = make_task(), fixed_batch()
  state = task.create_state(jax.random.key(0))

  def l1_grads(params, b):
    return jax.grad(lambda p: jnp.mean(jnp.abs(task.predict(p, b) - b["landmarks"].reshape(8, -1))))(params)

  grads = []
  for n in (1, 2):
    mesh = parallel.make_mesh(jax.devices()[:n])
    fn = jax.jit(l1_grads, in_shardings=(parallel.replicated(mesh), parallel.data_sharded(mesh)))
    grads.append(np.concatenate([np.ravel(x) for x in jax.tree.leaves(fn(state.g_params, parallel.shard_batch(batch, mesh)))]))
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6 * np.abs(grads[0]).max())


def test_batch_must_split_over_devices():
  from apb2face_jax.errors import UserError
  with pytest.raises(UserError, match="multiple of the 2 devices"):
    parallel.check_global_batch(3, parallel.make_mesh(jax.devices()[:2]))


def test_learning_rate_drops_tenfold_at_the_decay_epoch():
  config = predictor_config.get_config()
  config.lr_decay_epochs = 2
  tx = make_optimizer(config, steps_per_epoch=10)  # -> the drop comes after step 20
  params = {"w": jnp.zeros(())}
  opt_state = tx.init(params)
  sizes = []
  for _ in range(21):
    updates, opt_state = tx.update({"w": jnp.ones(())}, opt_state, params)
    sizes.append(float(jnp.abs(updates["w"])))
  np.testing.assert_allclose(sizes[19] / sizes[20], 10.0, rtol=1e-3)
