"""The annotator's own interpreter, and running the annotator in it from any other venv.

MediaPipe needs numpy < 2, so the annotator lives in a venv of its own; the
evaluation's re-detection and the `speaker` dataset run it as a subprocess.
Its interpreter is, in order: a configured path, $APB2FACE_ANNOTATOR_PYTHON,
`<repo>/.venv-annotate/bin/python`. Create that venv with

  python3 -m venv .venv-annotate && .venv-annotate/bin/pip install -r tools/annotate-requirements.txt
"""

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "APB2FACE_ANNOTATOR_PYTHON"
DEFAULT_PYTHON = REPO_ROOT / ".venv-annotate" / "bin" / "python"
HOW_TO_CREATE = ("python3 -m venv .venv-annotate && .venv-annotate/bin/pip install -r tools/annotate-requirements.txt"
                 f", or set ${ENV_VAR}")


def annotator_python(configured: str | None = None) -> Path:
  """The interpreter to run the annotator with (it may not exist: `run` says so)."""
  return Path(configured or os.environ.get(ENV_VAR) or DEFAULT_PYTHON)


def run(python: Path, module: str, *args: str) -> subprocess.CompletedProcess:
  """`python -m module args` with this repository importable; output captured, never raises on failure."""
  env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
  return subprocess.run([str(python), "-m", module, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, check=False)


def last_error_line(result: subprocess.CompletedProcess) -> str:
  """The last line the annotator wrote to stderr (its one-line error), or 'no message'."""
  return (result.stderr.strip().splitlines() or ["no message"])[-1]
