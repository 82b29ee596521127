"""Orbax checkpoints in the workdir: resume, keep latest N + best, atomic, async.

Each checkpoint holds the train state and a small JSON record (`meta`) naming the
job and the settings that shape the networks, so a checkpoint of the other
network, or of another size, is refused with a clear message instead of an
error from deep inside Orbax.
"""

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from apb2face_jax.errors import UserError

_pp = ocp.checkpoint_managers


class Checkpoints:
  """The checkpoints of one training job in `<workdir>/checkpoints`.

  Orbax writes each step to a temporary directory and renames it when complete,
  so a run killed mid-save (even with `kill -9`) leaves the previous checkpoint
  as the latest; the unfinished one is ignored on restore.
  """

  def __init__(self, workdir: str | Path, meta: dict[str, Any], *, keep: int = 2,
               best_metric: str | None = None, best_mode: str = "min", async_save: bool = True):
    self.directory = Path(workdir).absolute() / "checkpoints"
    self.meta = meta
    self.best_metric = best_metric
    policies: list[Any] = [_pp.preservation_policy.LatestN(n=keep)]
    best_fn = None
    if best_metric:
      best_fn = lambda metrics: float(metrics[best_metric])  # noqa: E731
      policies.append(_pp.preservation_policy.BestN(get_metric_fn=best_fn, reverse=best_mode == "min", n=1))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=_pp.preservation_policy.AnyPreservationPolicy(policies),
        best_fn=best_fn, best_mode=best_mode, enable_async_checkpointing=async_save, create=True)
    self._manager = ocp.CheckpointManager(self.directory, item_names=("state", "meta"), options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    return self._manager.best_step()

  def save(self, step: int, state: Any, metrics: dict[str, float] | None = None) -> None:
    """Starts an (async) save of `state` at `step`; a step already saved is skipped."""
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     meta=ocp.args.JsonSave(self.meta)),
                       metrics=metrics, force=True)

  def read_meta(self, step: int) -> dict[str, Any]:
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, template: Any, step: int | None = None) -> Any:
    """Restores `step` (default: latest) into the structure, shapes and shardings of `template`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise UserError(f"no checkpoint in {self.directory}: train first, or point to the right workdir.")
    meta = self.read_meta(step)
    mismatched = {k: (meta.get(k), v) for k, v in self.meta.items() if meta.get(k) != v}
    if mismatched:
      details = ", ".join(f"{k}: checkpoint has {a!r}, this run wants {b!r}" for k, (a, b) in mismatched.items())
      raise UserError(f"the checkpoint at {self.directory} (step {step}) does not fit this job ({details}). "
                      "Use the workdir of a matching run, or a fresh --workdir.")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    except (ValueError, KeyError) as e:
      raise UserError(f"the checkpoint at {self.directory} (step {step}) could not be read into this "
                      f"job's state ({e}). Use the workdir of a matching run, or a fresh --workdir.") from None
    return restored["state"]

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
