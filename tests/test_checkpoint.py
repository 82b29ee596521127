"""Orbax checkpoints: exact round trip, and a clear refusal of the wrong checkpoint."""

import jax
import numpy as np
import pytest

from apb2face_jax.train import parallel
from apb2face_jax.models.checkpoints import Checkpoints
from apb2face_jax.errors import UserError
from apb2face_jax.train.predictor_task import PredictorTask
from configs import predictor as predictor_config
from tests.conftest import fixed_batch


def trained_state(steps: int = 2):
  task = PredictorTask(predictor_config.get_config(), steps_per_epoch=10)
  mesh = parallel.make_mesh(jax.devices()[:1])
  state = parallel.replicate(task.create_state(jax.random.key(0)), mesh)
  step = jax.jit(task.train_step)
  for i in range(steps):
    state, _ = step(state, parallel.shard_batch(fixed_batch(), mesh), jax.random.key(i))
  return task, state


def test_save_restore_round_trip_is_exact(tmp_path):
  task, state = trained_state()
  ckpts = Checkpoints(tmp_path, task.meta(), best_metric="test/l1_px")
  ckpts.save(int(state.step), state, {"test/l1_px": 3.0})
  ckpts.close()

  fresh = task.create_state(jax.random.key(1))
  restored = Checkpoints(tmp_path, task.meta()).restore(fresh)
  assert int(restored.step) == int(state.step) == 2
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The optimiser state comes back as optax's own types, so training continues as before.
  assert type(restored.g_opt_state) is type(state.g_opt_state)


def test_best_and_latest_are_both_kept(tmp_path):
  task, state = trained_state(steps=1)
  ckpts = Checkpoints(tmp_path, task.meta(), keep=1, best_metric="test/l1_px", async_save=False)
  for step, l1 in ((1, 2.0), (2, 5.0), (3, 4.0)):
    ckpts.save(step, state, {"test/l1_px": l1})
  ckpts.close()
  assert ckpts.latest_step() == 3 and ckpts.best_step() == 1
  assert sorted(int(p.name) for p in ckpts.directory.iterdir() if p.name.isdigit()) == [1, 3]


def test_checkpoint_of_another_job_is_refused(tmp_path):
  task, state = trained_state(steps=1)
  ckpts = Checkpoints(tmp_path, {"job": "reenactor", "image_size": 256})
  ckpts.save(1, state)
  ckpts.close()
  with pytest.raises(UserError, match="does not fit this job.*job: checkpoint has 'reenactor'"):
    Checkpoints(tmp_path, task.meta()).restore(state)


def test_restore_from_an_empty_workdir_says_train_first(tmp_path):
  task, state = trained_state(steps=0)
  with pytest.raises(UserError, match="no checkpoint"):
    Checkpoints(tmp_path, task.meta()).restore(state)
