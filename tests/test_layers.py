"""The import rule of docs/architecture.md: data <- models <- train; inference, metrics and the app never import train.

Each layer's modules are imported in a fresh interpreter, and what that pulled
into `sys.modules` is checked against what the layer may not know.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

JAX = ("jax", "flax", "optax", "orbax")
TRAINING = ("optax", "grain", "apb2face_jax.train")
TENSORFLOW = ("tensorflow", "tensorflow_datasets")
# layer (package) -> modules it must not pull in
FORBIDDEN = {
    "data": JAX + ("apb2face_jax.models", "apb2face_jax.train", "apb2face_jax.inference", "apb2face_jax.metrics"),
    "annotate": JAX + TENSORFLOW + ("apb2face_jax.models", "apb2face_jax.train", "apb2face_jax.inference"),
    "models": TRAINING + TENSORFLOW + ("apb2face_jax.inference", "apb2face_jax.metrics"),
    "inference": TRAINING + TENSORFLOW + ("apb2face_jax.metrics",),
    "metrics": TRAINING,
    "train": ("apb2face_jax.inference", "apb2face_jax.metrics.evaluate"),
    "app": TRAINING + ("apb2face_jax.metrics",),
}

def modules_of(layer: str) -> list[str]:
  folder = REPO / "apb2face_jax" / layer
  return sorted(f"apb2face_jax.{layer}.{p.stem}" for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__"))


def imported_by(modules: list[str]) -> list[str]:
  code = f"import json, sys\nfor m in {modules!r}: __import__(m)\nprint(json.dumps(sorted(sys.modules)))"
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_lies_below_it(layer):
  modules = modules_of(layer)
  if layer == "metrics":  # the evaluation job sits on top of inference; the measures themselves do not
    modules.remove("apb2face_jax.metrics.evaluate")
  loaded = imported_by(modules)
  bad = sorted({m for m in loaded for f in FORBIDDEN[layer] if m == f or m.startswith(f + ".")})
  assert not bad, f"apb2face_jax.{layer} imports {bad[:8]}"


def test_inference_and_generation_load_no_training_and_no_dataset_code():
  loaded = imported_by(["apb2face_jax.inference", "apb2face_jax.inference.generate"])
  assert not [m for m in loaded if m.split(".")[0] in ("optax", "grain", "tensorflow", "tensorflow_datasets")
              or m.startswith("apb2face_jax.train")]


def test_every_package_module_belongs_to_a_layer():
  top = sorted(p.stem for p in (REPO / "apb2face_jax").glob("*.py"))
  assert top == ["__init__", "errors", "jobs", "runtime"]  # the job dispatch and what every layer shares
  packages = sorted(p.parent.name for p in (REPO / "apb2face_jax").glob("*/__init__.py"))
  assert packages == sorted(FORBIDDEN)
