"""The fields every training config shares: feeding the step, processes, compile cache.

  from configs import common
  common.add_run_fields(c)

Multi-process jobs (see README, "Many devices, many hosts"): `distributed=True`
alone joins the job a cluster describes (SLURM, Open MPI, TPU VMs, Kubernetes);
`coordinator_address` (host:port of process 0) with `num_processes` and
`process_id` works anywhere, several processes on one machine included, and
turns distributed on by itself.
"""

import ml_collections
from ml_collections import config_dict

DISTRIBUTED_FIELDS = ("distributed", "coordinator_address", "num_processes", "process_id")


def add_run_fields(c: ml_collections.ConfigDict) -> None:
  # Input pipeline (our choices; apb2face_jax/train/input_pipeline.py).
  c.input_pipeline = "auto"       # 'host': grain decodes each batch in threads; 'device': frames decoded
  #                                 once and kept on every device, a batch is a gather there; 'auto':
  #                                 'device' when the splits fit device_memory_fraction of one device
  c.input_workers = -1            # host decode threads; -1: this machine's cores (at most 32); 0: none
  c.input_prefetch = -1           # host batches kept ready; -1: 2 x input_workers
  c.device_memory_fraction = 0.25  # of one device's memory (CPU: of RAM / local devices) for 'auto'

  # Processes (jax.distributed).
  c.distributed = False
  c.coordinator_address = config_dict.placeholder(str)  # 'HOST:PORT' of process 0
  c.num_processes = config_dict.placeholder(int)
  c.process_id = config_dict.placeholder(int)
  c.startup_timeout_s = 300       # jax.distributed's default: how long processes wait for each other
  c.heartbeat_timeout_s = 100     # jax.distributed's default: a silent process is declared lost after this

  c.compilation_cache_dir = config_dict.placeholder(str)  # default ~/.cache/apb2face_jax/xla
  c.profile_steps = 0             # our choice: N > 0 traces N steps after the first (compiled) one into
  #                                 <workdir>/profile (jax.profiler; TensorBoard's Profile tab)
