"""Training as several processes on 127.0.0.1 (`tools/launch_local.py`), as on a cluster.

The commands are the README's one-machine commands, on the builder's dummy data.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DUMMY_RAW, REPO, final_params, saved_steps

TIMEOUT = 420


def job_args(workdir: Path, data_dir: Path, steps: int, job: str = "predictor", *extra: str) -> list[str]:
  args = ["--config", str(REPO / "configs" / f"{job}.py"), "--workdir", str(workdir), "--config.dataset=annvi",
          f"--config.manual_dir={DUMMY_RAW}", f"--config.data_dir={data_dir}", "--config.batch_size=4",
          f"--config.num_train_steps={steps}", "--config.checkpoint_every_epochs=1", "--config.log_every_steps=3"]
  if job == "reenactor":
    args += ["--config.image_size=32", "--config.ngf=4", "--config.ndf=4", "--config.generator_kwargs.n_blocks=1"]
  return [*args, *extra]


def local(processes: int, devices: int, args: list[str]) -> list[str]:
  return [sys.executable, str(REPO / "tools" / "launch_local.py"), "--processes", str(processes),
          "--cpu_devices_per_process", str(devices), "--", *args]


def one_process(args: list[str]) -> list[str]:
  return [sys.executable, str(REPO / "launch.py"), *args]


def env_with_devices(devices: int) -> dict[str, str]:
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
  return dict(os.environ, XLA_FLAGS=" ".join([*flags, f"--xla_force_host_platform_device_count={devices}"]))


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
  result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO, env=env)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  return result


def assert_same_training(a: Path, b: Path, steps: int, lr: float) -> None:
  """The tolerance of the 2-device test (tests/test_predictor_train.py): reduction order only."""
  x = np.concatenate([np.ravel(p) for p in final_params(a)])
  y = np.concatenate([np.ravel(p) for p in final_params(b)])
  assert x.shape == y.shape
  assert np.mean(np.abs(x - y) <= 1e-5) > 0.99
  assert np.max(np.abs(x - y)) <= 2 * steps * lr


def test_two_processes_train_as_one_process_and_resume(data_dir, tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  run(one_process(job_args(one, data_dir, 6)), env_with_devices(2))
  result = run(local(2, 1, job_args(two, data_dir, 6)))
  out = result.stdout
  assert "[0] predictor: 2 processes x 1 cpu device = 2 devices; global batch 4 (2 per device, 2 per process)" in out
  assert "[0] predictor: step 6" in out
  assert not re.search(r"^\[1\] (predictor|Resuming|train)", out, re.M)  # process 1 prints nothing of its own
  assert saved_steps(two) == saved_steps(one) and saved_steps(two)[-1] == 6
  assert [p.name for p in two.glob("*.json")] == ["config.json"]
  assert len(list((two / "tensorboard").glob("events.out.tfevents.*"))) == 1
  assert_same_training(one, two, steps=6, lr=3e-4)

  again = run(local(2, 1, job_args(two, data_dir, 9)))
  assert "[0] Resuming predictor from step 6" in again.stdout
  assert saved_steps(two)[-1] == 9


def test_two_processes_of_two_devices_train_as_one_process_of_four(data_dir, tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  run(one_process(job_args(one, data_dir, 3, "reenactor")), env_with_devices(4))
  result = run(local(2, 2, job_args(two, data_dir, 3, "reenactor", "--config.input_pipeline=host")))
  assert "2 processes x 2 cpu devices = 4 devices; global batch 4 (1 per device, 2 per process)" in result.stdout
  assert "input: host" in result.stdout
  assert_same_training(one, two, steps=3, lr=2e-4)


def start(command: list[str]) -> tuple[subprocess.Popen, dict[int, int]]:
  """Starts launch_local; returns it and the pid of each of its processes."""
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
  pids = {}
  while len(pids) < 2:
    match = re.match(r"\[launch_local\] process (\d+): pid (\d+)", proc.stdout.readline())
    if match:
      pids[int(match.group(1))] = int(match.group(2))
  return proc, pids


def wait_for_checkpoint(workdir: Path, proc: subprocess.Popen) -> None:
  deadline = time.time() + TIMEOUT
  while not saved_steps(workdir) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.1)
  assert saved_steps(workdir), "no checkpoint was written"


def test_sigterm_to_one_process_saves_on_all_at_one_step(data_dir, tmp_path):
  proc, pids = start(local(2, 1, job_args(tmp_path, data_dir, 100000)))
  wait_for_checkpoint(tmp_path, proc)
  os.kill(pids[1], signal.SIGTERM)
  out, _ = proc.communicate(timeout=TIMEOUT)
  assert "[launch_local] exit statuses: [143, 143]" in out, out[-3000:]
  stopped_at = int(re.search(r"\[0\] SIGTERM: saving predictor at step (\d+)", out).group(1))
  assert saved_steps(tmp_path)[-1] == stopped_at


def test_a_killed_process_stops_the_others_with_one_message_and_the_job_resumes(data_dir, tmp_path):
  args = job_args(tmp_path, data_dir, 100000, "predictor", "--config.heartbeat_timeout_s=10")
  proc, pids = start(local(2, 1, args))
  wait_for_checkpoint(tmp_path, proc)
  killed_at = time.time()
  os.kill(pids[1], signal.SIGKILL)
  out, _ = proc.communicate(timeout=TIMEOUT)
  assert time.time() - killed_at < 90  # bounded: the heartbeat timeout is 10 s
  # Process 0 stops by itself (1), or JAX aborts it at the heartbeat timeout (-6) while it names the lost one.
  assert re.search(r"\[launch_local\] exit statuses: \[(1|-6), -9\]", out), out[-3000:]
  assert re.search(r"\[0\] error: this job lost a process near step \d+", out)
  assert "Traceback" not in out
  last = saved_steps(tmp_path)[-1]

  resumed = run(local(2, 1, job_args(tmp_path, data_dir, last + 3)))
  assert f"[0] Resuming predictor from step {last}" in resumed.stdout
  assert saved_steps(tmp_path)[-1] == last + 3


@pytest.mark.parametrize("override, message", [
    ("--config.coordinator_address=127.0.0.1:1", "needs --config.num_processes=N"),
    ("--config.distributed=True", "found no cluster to join"),
])
def test_distributed_settings_without_a_cluster_give_one_line(data_dir, tmp_path, override, message):
  result = subprocess.run(one_process(job_args(tmp_path, data_dir, 3, "predictor", override)),
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO)
  assert result.returncode == 2
  assert message in result.stderr and "Traceback" not in result.stderr


def test_generation_refuses_to_run_as_one_of_many_processes(tmp_path):
  env = dict(os.environ, SLURM_NTASKS="4")
  result = subprocess.run([sys.executable, str(REPO / "launch.py"), "--config", str(REPO / "configs" / "generate.py")],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO, env=env)
  assert result.returncode == 2
  assert "generate runs as one process, and this is one of 4 (SLURM_NTASKS)" in result.stderr
