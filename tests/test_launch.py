"""launch.py end to end on the builder's dummy data: train, resume, kill -9, SIGTERM.

Each run is a real `python launch.py` subprocess, as a user would start it.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DUMMY_RAW, REPO, final_params, saved_steps


def launch_args(workdir: Path, data_dir: Path, steps: int, *extra: str) -> list[str]:
  return [sys.executable, str(REPO / "launch.py"), "--config", str(REPO / "configs" / "predictor.py"),
          "--workdir", str(workdir), "--config.dataset=annvi", f"--config.manual_dir={DUMMY_RAW}",
          f"--config.data_dir={data_dir}", "--config.batch_size=4", f"--config.num_train_steps={steps}",
          "--config.checkpoint_every_epochs=1", "--config.log_every_steps=3", *extra]


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
  return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO, **kw)


def test_train_then_resume(data_dir, tmp_path):
  first = run(launch_args(tmp_path, data_dir, 6))
  assert first.returncode == 0, first.stderr[-2000:]
  assert "predictor: step 6" in first.stdout and "baseline/mean_landmarks_l1_px" in first.stdout
  assert saved_steps(tmp_path)[-1] == 6
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert list((tmp_path / "pictures").glob("predictor_test_*.png"))
  assert (tmp_path / "config.json").exists()

  again = run(launch_args(tmp_path, data_dir, 9, "--config.profile_steps=2"))
  assert again.returncode == 0, again.stderr[-2000:]
  assert "Resuming predictor from step 6" in again.stdout
  assert saved_steps(tmp_path)[-1] == 9
  assert "profile of steps 8-9" in again.stdout and list((tmp_path / "profile").rglob("*.xplane.pb"))


def start_and_wait_for_checkpoint(args: list[str], workdir: Path) -> subprocess.Popen:
  proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
  deadline = time.time() + 240
  while not saved_steps(workdir) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  return proc


def test_kill_9_then_resume_equals_an_uninterrupted_run(data_dir, tmp_path):
  steps = 60
  straight = run(launch_args(tmp_path / "straight", data_dir, steps))
  assert straight.returncode == 0, straight.stderr[-2000:]

  killed = tmp_path / "killed"
  proc = start_and_wait_for_checkpoint(launch_args(killed, data_dir, steps), killed)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL
  assert saved_steps(killed)[-1] < steps  # it really was interrupted

  resumed = run(launch_args(killed, data_dir, steps))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "Resuming predictor from step" in resumed.stdout
  for a, b in zip(final_params(tmp_path / "straight"), final_params(killed)):
    np.testing.assert_array_equal(a, b)


def test_sigterm_saves_then_exits(data_dir, tmp_path):
  proc = start_and_wait_for_checkpoint(launch_args(tmp_path, data_dir, 100000), tmp_path)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 143
  assert "SIGTERM: saving predictor at step" in out
  stopped_at = int(out.split("SIGTERM: saving predictor at step ")[1].split()[0])
  assert saved_steps(tmp_path)[-1] == stopped_at


@pytest.mark.parametrize("override, message", [
    ("--config.batch_sise=4", "bad --config override: 'batch_sise' Did you mean \"batch_size\""),
    ("--config.learning_rate=-1", "config.learning_rate=-1.0 is not valid"),
    ("--config.manual_dir=/nonexistent/annvi", "/nonexistent/annvi"),
])
def test_user_mistakes_give_one_line_and_exit_2(data_dir, tmp_path, override, message):
  result = run(launch_args(tmp_path, data_dir, 3, override, "--config.data_dir=" + str(tmp_path / "fresh")))
  assert result.returncode == 2
  assert message in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("config_file, message", [
    ("configs/predictor.py:nope", "could not load --config: ValueError: unknown variant 'nope' of configs/predictor.py"),
    ("syntax.py", "could not load --config: SyntaxError: invalid syntax (syntax.py, line 1)"),
    ("imports.py", "could not load --config: ModuleNotFoundError: No module named 'no_such_module_here'"),
])
def test_a_config_file_that_does_not_load_gives_one_line(tmp_path, config_file, message):
  (tmp_path / "syntax.py").write_text("def get_config(:\n")
  (tmp_path / "imports.py").write_text("import no_such_module_here\n")
  path = config_file if config_file.startswith("configs/") else str(tmp_path / config_file)
  result = run([sys.executable, str(REPO / "launch.py"), "--config", path, "--workdir", str(tmp_path / "w")])
  assert result.returncode == 2 and "Traceback" not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), result.stderr[-2000:]


def test_reenactor_trains_and_leaves_its_picture_grid(data_dir, tmp_path):
  args = [sys.executable, str(REPO / "launch.py"), "--config", str(REPO / "configs" / "reenactor.py"),
          "--workdir", str(tmp_path), "--config.dataset=annvi", f"--config.manual_dir={DUMMY_RAW}",
          f"--config.data_dir={data_dir}", "--config.batch_size=2", "--config.num_train_steps=3",
          "--config.image_size=32", "--config.ngf=4", "--config.ndf=4", "--config.generator_kwargs.n_blocks=1"]
  result = run(args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "reenactor: step 3" in result.stdout and "baseline/mean_face_l1" in result.stdout
  assert "test/face_l1" in result.stdout
  assert saved_steps(tmp_path) == [3]
  assert list((tmp_path / "pictures").glob("reenactor_test_*.png"))
