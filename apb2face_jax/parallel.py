"""Devices, meshes and shardings: the only module that knows about devices.

Data parallelism the `jit` way: parameters and optimiser state are replicated
(`P()`), every batch is split along its first axis over the mesh axis `data`
(`P('data')`). Under `jax.jit` each device computes the loss of its slice and
XLA all-reduces the gradients, so every device applies the same averaged update
and the replicas stay identical: what `pmap` + `lax.pmean` gave, on one code
path for 1 CPU, 8 GPUs, a TPU slice or several hosts.
"""

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from apb2face_jax.errors import UserError

DATA_AXIS = "data"


def initialize_distributed(enabled: bool) -> None:
  """Joins a multi-host job (`jax.distributed.initialize()` reads the cluster env)."""
  if enabled:
    jax.distributed.initialize()


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh, axis `data`, over `devices` (default: every device of every host)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_global_batch(global_batch: int, mesh: Mesh) -> int:
  """Returns the per-host batch; the global batch must split evenly over devices."""
  if global_batch <= 0 or global_batch % mesh.size:
    raise UserError(
        f"config.batch_size={global_batch} must be a positive multiple of the {mesh.size} devices "
        f"in use: set --config.batch_size to a multiple of {mesh.size}.")
  return global_batch // jax.process_count()


def host_slice(global_batch: int) -> slice:
  """The part of each global batch this host reads (hosts split it evenly)."""
  per_host = global_batch // jax.process_count()
  start = jax.process_index() * per_host
  return slice(start, start + per_host)


def shard_batch(host_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Host-local numpy batch -> global arrays split over `data`."""
  sharding = data_sharded(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), host_batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
  return jax.device_put(tree, replicated(mesh))
