"""Official-checkpoint conversion: name tables, clear refusals, and numerical parity with PyTorch.

The parity tests need torch (requirements-eval.txt) and skip without it: they
build PyTorch modules with the official names (tests/torch_reference.py), save
random weights in the official checkpoint formats, convert them with the CLI,
restore the written workdirs and compare outputs on the same inputs.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from apb2face_jax.train import convert
from apb2face_jax import inference
from apb2face_jax.data import torch_save
from apb2face_jax.errors import UserError
from apb2face_jax.models.predictor import GeometryPredictor, LandmarkDiscriminator
from apb2face_jax.models.reenactor import PatchDiscriminator, ResnetGenerator
from apb2face_jax.train.predictor_task import PredictorTask
from configs import predictor as predictor_config

TOLERANCE = 1e-4


def _module_paths(module, *inputs, **kwargs) -> set[str]:
  params = jax.eval_shape(lambda key: module.init(key, *inputs, **kwargs), jax.random.key(0))["params"]
  return {"/".join(k[:-1]) for k in traverse_util.flatten_dict(params)}


def _zeros(*shape):
  return jnp.zeros(shape)


def test_name_tables_cover_every_parameter_once():
  assert _module_paths(GeometryPredictor(), _zeros(1, 64, 60), _zeros(1, 3), _zeros(1, 2)) == set(
      convert.predictor_names())
  assert _module_paths(LandmarkDiscriminator(), _zeros(1, 212), _zeros(1, 212)) == set(
      convert.landmark_discriminator_names())
  assert _module_paths(ResnetGenerator(ngf=8, n_blocks=3), _zeros(1, 32, 32, 3), train=False) == set(
      convert.generator_names(3, dropout=True))
  assert _module_paths(PatchDiscriminator(ndf=8), _zeros(1, 64, 64, 6)) == set(convert.patch_discriminator_names())
  for names in (convert.predictor_names(), convert.generator_names(9, True), convert.patch_discriminator_names()):
    assert len(set(names.values())) == len(names)


def _official_layout(params) -> dict[str, np.ndarray]:
  """Our predictor params -> an official-format numpy state dict (the inverse of the conversion)."""
  names = convert.predictor_names()
  out = {}
  for key, w in traverse_util.flatten_dict(params).items():
    w = np.asarray(w)
    w = w.transpose(3, 2, 0, 1) if w.ndim == 4 else w.T if w.ndim == 2 else w
    out[f"{names['/'.join(key[:-1])]}.{'weight' if key[-1] == 'kernel' else 'bias'}"] = w
  return out


def test_round_trip_and_refusals_without_torch():
  task = PredictorTask(predictor_config.get_config(), steps_per_epoch=1)
  params = task.create_state(jax.random.key(3)).g_params
  official = _official_layout(params)
  _, _, state = convert.convert_predictor({"net_G": official, "epoch": 5}, "p.pth", step=7)
  assert int(state.step) == 7
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(state.g_params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  with pytest.raises(UserError, match="no 'net_G' entry .*reenactor"):
    convert.convert_predictor(official, "g.pth")
  with pytest.raises(UserError, match="is a predictor checkpoint"):
    convert.convert_reenactor({"net_G": official}, None, "p.pth")
  with pytest.raises(UserError, match="missing audio1.0.weight; unexpected extra.weight"):
    broken = {k: v for k, v in official.items() if k != "audio1.0.weight"}
    convert.convert_predictor({"net_G": {**broken, "extra.weight": np.zeros(1)}}, "p.pth")
  with pytest.raises(UserError, match=r"trans_audio.0.weight is \(256, 256\), expected \(256, 512\)"):
    convert.convert_predictor({"net_G": {**official, "trans_audio.0.weight": np.zeros((256, 256))}}, "p.pth")


def test_unreadable_files_are_refused(tmp_path):
  bad = tmp_path / "notes.pth"
  bad.write_text("not a checkpoint")
  with pytest.raises(UserError, match="notes.pth"):
    convert.load_torch_file(bad)
  with pytest.raises(UserError, match="not a zip-format torch checkpoint"):
    torch_save.load(bad, allow_tensors=True)  # the reader used without torch
  with pytest.raises(UserError, match="does not exist"):
    convert.load_torch_file(tmp_path / "missing.pth")


def test_cli_needs_something_to_convert(tmp_path, capsys):
  with pytest.raises(SystemExit) as e:
    convert.main(["--out", str(tmp_path)])
  assert e.value.code == 2 and "nothing to convert" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Parity with PyTorch (needs torch).

@pytest.fixture(autouse=True)
def _full_float32_products():
  """Full-fp32 products, so that the parity tests also hold on GPUs.

  XLA on NVIDIA GPUs computes fp32 convolutions in TF32 by default: on an H100 the
  converted generator then differs from PyTorch by up to 7.6e-3 (measured 2026-11-26).
  """
  with jax.default_matmul_precision("highest"):
    yield


def _d_params(workdir: Path, job: str):
  """The discriminator parameters of a converted workdir, restored as inference restores G."""
  return inference.restore(workdir, job, "latest", ("d_params",))[2]["d_params"]


def _close(ours, theirs):
  ours, theirs = np.asarray(ours), theirs.detach().numpy()
  if ours.ndim == 4:
    ours = ours.transpose(0, 3, 1, 2)
  assert ours.shape == theirs.shape
  np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=TOLERANCE)


def test_predictor_parity(tmp_path):
  torch = pytest.importorskip("torch")
  from tests import torch_reference as ref  # pylint: disable=g-import-not-at-top
  g, d = ref.randomise(ref.Predictor(), 0), ref.randomise(ref.LandmarkDiscriminator(), 1)
  path = tmp_path / "man1_best.pth"
  torch.save({"net_G": g.state_dict(), "net_D": d.state_dict(), "epoch": 3}, path)
  convert.main(["--predictor", str(path), "--out", str(tmp_path / "out")])
  predictor = inference.load_predictor(tmp_path / "out" / "predictor")

  rng = np.random.default_rng(0)
  mfcc, pose, blink = (rng.normal(size=s).astype(np.float32) for s in ((4, 64, 60), (4, 3), (4, 2)))
  landmarks, reference = (rng.uniform(0, 256, size=(4, 212)).astype(np.float32) for _ in range(2))
  with torch.no_grad():
    want = g(torch.from_numpy(mfcc)[:, None], torch.from_numpy(pose), torch.from_numpy(blink))
    want_d = d(torch.from_numpy(landmarks), torch.from_numpy(reference))
  _close(np.asarray(predictor(mfcc, pose, blink)).reshape(4, 212), want)
  d_params = _d_params(predictor.workdir, "predictor")
  _close(predictor.model.discriminator.apply({"params": d_params}, landmarks, reference), want_d)

  # The restricted reader (used where torch is absent) reads the same arrays.
  unpickled = torch_save.load(path, allow_tensors=True)  # the reader used without torch
  assert unpickled["epoch"] == 3
  for k, v in g.state_dict().items():
    np.testing.assert_array_equal(unpickled["net_G"][k], v.numpy())


def test_reenactor_parity_small(tmp_path, capsys):
  torch = pytest.importorskip("torch")
  from tests import torch_reference as ref  # pylint: disable=g-import-not-at-top
  g = ref.randomise(ref.Generator(ngf=8, n_blocks=2), 2)
  d = ref.randomise(ref.PatchDiscriminator(ndf=8), 3)
  torch.save(g.state_dict(), tmp_path / "latest_net_G.pth")
  torch.save(d.state_dict(), tmp_path / "latest_net_D.pth")
  convert.main(["--reenactor", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "out"), "--step", "5"])
  assert "D converted from" in capsys.readouterr().out
  reenactor = inference.load_reenactor(tmp_path / "out" / "reenactor")
  assert reenactor.step == 5 and reenactor.model.settings["ngf"] == 8 and reenactor.model.settings["ndf"] == 8
  assert reenactor.record["data"]["mfcc_mode"] == "compat" and reenactor.record["data"]["fps"] == 30.0

  x = np.random.default_rng(1).uniform(-1, 1, size=(2, 3, 64, 64)).astype(np.float32)
  pair = np.random.default_rng(2).uniform(-1, 1, size=(2, 6, 64, 64)).astype(np.float32)
  with torch.no_grad():
    want, want_d = g(torch.from_numpy(x)), d(torch.from_numpy(pair))
  nhwc = x.transpose(0, 2, 3, 1)  # the generator is fully convolutional: 64x64 for speed
  _close(jax.jit(reenactor.apply)(reenactor.params, reenactor.variables, nhwc), want)
  d_params = _d_params(reenactor.workdir, "reenactor")
  _close(reenactor.model.discriminator.apply({"params": d_params}, pair.transpose(0, 2, 3, 1)), want_d)

  # A file given to the wrong option is refused in one line.
  with pytest.raises(SystemExit):
    convert.main(["--predictor", str(tmp_path / "latest_net_G.pth"), "--out", str(tmp_path / "out2")])
  assert "no 'net_G' entry" in capsys.readouterr().err


def test_full_size_parity():
  torch = pytest.importorskip("torch")
  from tests import torch_reference as ref  # pylint: disable=g-import-not-at-top
  g = ref.randomise(ref.Generator(), 4, scale=0.02)
  d = ref.randomise(ref.PatchDiscriminator(), 5, scale=0.02)
  numpy_dict = lambda m: {k: v.numpy() for k, v in m.state_dict().items()}  # noqa: E731
  _, task, state = convert.convert_reenactor(numpy_dict(g), numpy_dict(d), "G")
  x = np.random.default_rng(3).uniform(-1, 1, size=(1, 3, 64, 64)).astype(np.float32)
  with torch.no_grad():
    want = g(torch.from_numpy(x))
    want_d = d(torch.cat([torch.from_numpy(x), want], dim=1))
  fake = jax.jit(lambda p, x: task.model.generate(p, {}, x, None)[0])(state.g_params, x.transpose(0, 2, 3, 1))
  _close(fake, want)
  _close(jax.jit(task.judge)(state.d_params, x.transpose(0, 2, 3, 1), fake), want_d)
