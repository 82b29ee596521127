"""Processes, devices, meshes and shardings: the only module that knows about them.

Data parallelism the `jit` way: parameters and optimiser state are replicated
(`P()`), every batch is split along its first axis over the mesh axis `data`
(`P('data')`). Under `jax.jit` each device computes the loss of its slice and
XLA all-reduces the gradients, so every device applies the same averaged update
and the replicas stay identical: one code path for 1 CPU, 8 GPUs, a TPU slice or
several hosts (`jax.distributed`; on CPUs the cross-process collectives are
gloo's).
"""

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from apb2face_jax.errors import UserError

DATA_AXIS = "data"


def initialize_distributed(config: Any) -> None:
  """Joins a multi-process job; must come before anything starts a JAX backend.

  `config.coordinator_address` (host:port of process 0) with `num_processes` and
  `process_id` works anywhere, several processes on one machine included;
  `config.distributed=True` alone lets JAX read the cluster's environment (SLURM,
  Open MPI, TPU VMs, Kubernetes).
  """
  address = config.get("coordinator_address")
  if not (config.get("distributed") or address):
    return
  explicit = {}
  if address:
    n, i = config.get("num_processes"), config.get("process_id")
    if not isinstance(n, int) or n < 1 or not isinstance(i, int) or not 0 <= i < n:
      raise UserError(f"config.coordinator_address={address!r} needs --config.num_processes=N (N >= 1) and "
                      f"--config.process_id=I (0 <= I < N) for each process; got num_processes={n!r}, "
                      f"process_id={i!r}.")
    if ":" not in address:
      raise UserError(f"config.coordinator_address={address!r} must be HOST:PORT (e.g. 127.0.0.1:12345).")
    explicit = {"coordinator_address": address, "num_processes": n, "process_id": i}
  try:
    jax.distributed.initialize(**explicit, initialization_timeout=config.startup_timeout_s,
                               heartbeat_timeout_seconds=config.heartbeat_timeout_s)
  except ValueError as e:
    if explicit:
      raise
    raise UserError(f"config.distributed=True found no cluster to join ({e}). Outside SLURM, Open MPI, TPU VMs "
                    "and Kubernetes, name the coordinator: --config.coordinator_address=HOST:PORT "
                    "--config.num_processes=N --config.process_id=I.") from None
  except Exception as e:  # pylint: disable=broad-except  (XlaRuntimeError: the coordinator never answered)
    where = address or "the cluster's coordinator"
    raise UserError(f"could not join the job at {where} within config.startup_timeout_s="
                    f"{config.startup_timeout_s} s ({str(e).splitlines()[0][:200]}). Start every process "
                    "with the same coordinator_address and num_processes, each with its own process_id.") from None


def lost_processes() -> list[int]:
  """The processes of this job that stopped answering.

  Waits for every live process to ask too, so it returns once the coordination
  service has declared the dead ones lost (at most `heartbeat_timeout_s`). A
  process that cannot reach the coordinator at all reports process 0 lost.
  """
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

  everyone = set(range(jax.process_count()))
  try:
    with multihost_utils.live_devices(jax.devices()) as live:
      return sorted(everyone - {d.process_index for d in live})
  except Exception:  # pylint: disable=broad-except  (no coordinator left to ask)
    return [0]


def describe(mesh: Mesh, global_batch: int) -> str:
  """One line: processes, devices (kind and count) and the batch per device and in all."""
  plural = lambda n, word: f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")  # noqa: E731
  kinds = "/".join(sorted({d.device_kind for d in mesh.devices.flat}))
  return (f"{plural(jax.process_count(), 'process')} x {plural(jax.local_device_count(), kinds + ' device')} = "
          f"{plural(mesh.size, 'device')}; global batch {global_batch} ({global_batch // mesh.size} per device, "
          f"{global_batch // jax.process_count()} per process)")


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh, axis `data`, over `devices` (default: every device of every host)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_global_batch(global_batch: int, mesh: Mesh) -> None:
  """The global batch must split evenly over the devices (and so over the processes)."""
  if global_batch <= 0 or global_batch % mesh.size:
    raise UserError(
        f"config.batch_size={global_batch} must be a positive multiple of the {mesh.size} devices "
        f"in use: set --config.batch_size to a multiple of {mesh.size}.")


def host_slice(global_batch: int, process_index: int | None = None, process_count: int | None = None) -> slice:
  """The rows of each global batch that one process reads (processes split it evenly, in order)."""
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  per_host = global_batch // count
  return slice(index * per_host, (index + 1) * per_host)


def shard_batch(host_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """This process's rows of a batch -> global arrays split over `data`."""
  sharding = data_sharded(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), host_batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Host (or local) values every process holds alike -> arrays replicated on every device."""
  sharding = replicated(mesh)
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def host_copy(tree: Any) -> Any:
  """Replicated global arrays -> this process's numpy copy (for work one process does alone)."""
  return tree if jax.process_count() == 1 else jax.device_get(tree)
