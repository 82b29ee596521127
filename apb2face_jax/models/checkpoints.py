"""Orbax checkpoints in a workdir: resume, keep latest N + best, atomic, async; one network for inference.

Each checkpoint holds the train state and a small JSON record (`meta`): the
fields that must match to restore it (the job and the settings that shape
the networks), so a checkpoint of the other network, or of another size, is
refused with a clear message instead of an error from deep inside Orbax; and,
unchecked, what inference needs to rebuild and drive the network
(`record`: the model settings and the training data's frame rate, MFCC mode
and pose/blink centre).
"""

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging as absl_logging

from apb2face_jax.errors import UserError

CONFIG_FILE = "config.json"  # the training run's config, beside its checkpoints
CHECKPOINT_DIR = "checkpoints"
RECORD_KEY = "record"  # the unchecked part of `meta`

_pp = ocp.checkpoint_managers


def check_meta(found: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
  """Refuses, in one line, a checkpoint meta whose checked fields differ from `wanted`'s."""
  mismatched = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
  if mismatched:
    details = ", ".join(f"{k}: checkpoint has {a!r}, this run wants {b!r}" for k, (a, b) in mismatched.items())
    raise UserError(f"the checkpoint at {where} does not fit this job ({details}). "
                    "Use the workdir of a matching run, or a fresh --workdir.")


class Checkpoints:
  """The checkpoints of one training job in `<workdir>/checkpoints`.

  Orbax writes each step to a temporary directory and renames it when complete,
  so a run killed mid-save (even with `kill -9`) leaves the previous checkpoint
  as the latest; the unfinished one is ignored on restore.
  """

  def __init__(self, workdir: str | Path, meta: dict[str, Any], *, record: dict[str, Any] | None = None,
               keep: int = 2, best_metric: str | None = None, async_save: bool = True, create: bool = True):
    self.directory = Path(workdir).absolute() / CHECKPOINT_DIR
    self.meta = meta
    self.record = record
    policies: list[Any] = [_pp.preservation_policy.LatestN(n=keep)]
    best_fn = None
    if best_metric:
      best_fn = lambda metrics: float(metrics[best_metric])  # noqa: E731
      policies.append(_pp.preservation_policy.BestN(get_metric_fn=best_fn, reverse=True, n=1))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=_pp.preservation_policy.AnyPreservationPolicy(policies),
        best_fn=best_fn, best_mode="min", enable_async_checkpointing=async_save, create=create)
    self._manager = ocp.CheckpointManager(self.directory, item_names=("state", "meta"), options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    return self._manager.best_step()

  def step_of(self, checkpoint: str | int) -> int:
    """The step of 'latest', 'best' or a step number, checked to exist."""
    if checkpoint == "latest":
      step = self.latest_step()
    elif checkpoint == "best":
      step = self.best_step()
      if step is None and self.latest_step() is not None:
        raise UserError(f"{self.directory} records no best checkpoint (no test metric saved): use checkpoint='latest'.")
    else:
      try:
        step = int(checkpoint)
      except ValueError:
        raise UserError(f"checkpoint={checkpoint!r} is not valid: use 'latest', 'best' or a step number.") from None
      if step not in self._manager.all_steps():
        raise UserError(f"{self.directory} holds no checkpoint of step {step} (it has {sorted(self._manager.all_steps())}).")
    if step is None:
      raise UserError(f"no checkpoint in {self.directory}: train first, or point to the right workdir.")
    return step

  def save(self, step: int, state: Any, metrics: dict[str, float] | None = None) -> None:
    """Starts an (async) save of `state` at `step`; a step already saved is skipped."""
    if step in self._manager.all_steps():
      return
    meta = {**self.meta, RECORD_KEY: self.record} if self.record is not None else self.meta
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     meta=ocp.args.JsonSave(meta)),
                       metrics=metrics, force=True)

  def read_meta(self, step: int) -> dict[str, Any]:
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, template: Any, step: int | None = None) -> Any:
    """Restores `step` (default: latest) into the structure, shapes and shardings of `template`."""
    step = self.step_of("latest" if step is None else step)
    check_meta(self.read_meta(step), self.meta, f"{self.directory} (step {step})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    except (ValueError, KeyError) as e:
      raise self._unreadable(step, e) from None
    return restored["state"]

  def restore_parts(self, step: int, keys: tuple[str, ...]) -> dict[str, Any]:
    """Only the entries `keys` of the saved state (e.g. the generator's parameters), on the first device."""
    path = self.directory / str(step) / "state"
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # reading one item of a step warns of the step's metadata file
    try:
      saved = ocp.StandardCheckpointer().metadata(path).item_metadata
      item = {k: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), saved[k])
              for k in keys}
      restore_args = jax.tree.map(lambda _: ocp.ArrayRestoreArgs(sharding=device), item)
      return ocp.PyTreeCheckpointer().restore(path, args=ocp.args.PyTreeRestore(
          item=item, restore_args=restore_args, partial_restore=True))
    except (ValueError, KeyError, FileNotFoundError) as e:
      raise self._unreadable(step, e) from None
    finally:
      absl_logging.set_verbosity(verbosity)

  def _unreadable(self, step: int, error: Exception) -> UserError:
    return UserError(f"the checkpoint at {self.directory} (step {step}) could not be read into this "
                     f"job's state ({error}). Use the workdir of a matching run, or a fresh --workdir.")

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
