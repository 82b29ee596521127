"""Official APB2Face PyTorch checkpoints -> our training workdirs.

  python -m apb2face_jax.train.convert --predictor man1_best.pth --reenactor latest_net_G.pth --out DIR

writes `DIR/predictor` and `DIR/reenactor`, each a workdir as training leaves
it: `config.json` (configs/predictor.py:annvi, configs/reenactor.py:paper, with
the reenactor's widths, block count and dropout read from the weights) and a
full `GanState` checkpoint (converted G; D converted too where the file has it,
else freshly initialised; fresh Adam states). Inference loads such a workdir,
and `launch.py --workdir` resumes training from it.

Inputs, as the official code saves them:
- predictor: `torch.save({'net_G': APBNet state dict, 'net_D': Discriminator
  state dict, 'epoch': n})` (audio2landmark `GANModel.save`).
- reenactor: `<epoch>_net_G.pth`, a plain `ResnetL2FaceGenerator` state dict;
  the PatchGAN's `<epoch>_net_D.pth` beside it is converted when present.

Files are read with `torch.load(weights_only=True)` when torch is installed,
else with `apb2face_jax.data.torch_save`'s restricted unpickler, which builds numpy
arrays and nothing else. Parameter names and layouts: the tables in
`apb2face_jax/models/predictor.py` and `models/reenactor.py`.
"""

import argparse
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from apb2face_jax.data import splits, torch_save
from apb2face_jax.errors import UserError, make_folder

StateDict = dict[str, np.ndarray]

# Buffers an official state dict may hold that no parameter of ours stands for:
# InstanceNorm statistics of PyTorch < 0.4 checkpoints (our norm has no state).
_IGNORED_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")

# ---------------------------------------------------------------------------
# Reading torch.save files.

def _to_numpy(obj: Any) -> Any:
  """torch tensors anywhere in dicts -> numpy arrays (floating ones as float32)."""
  import torch  # pylint: disable=g-import-not-at-top  (optional dependency)
  if isinstance(obj, dict):
    return {k: _to_numpy(v) for k, v in obj.items()}
  if isinstance(obj, torch.Tensor):
    t = obj.detach().cpu()
    return (t.float() if t.is_floating_point() else t).numpy()
  return obj


def load_torch_file(path: str | Path) -> Any:
  """A `torch.save` file's object with its tensors as numpy arrays; never runs arbitrary pickle code."""
  path = Path(path)
  if not path.is_file():
    raise UserError(f"{path} does not exist: give the path of an official APB2Face .pth file.")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return torch_save.load(path, allow_tensors=True)
  try:
    return _to_numpy(torch.load(path, map_location="cpu", weights_only=True))
  except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
    reason = " ".join(str(e).split())[:300]
    raise UserError(f"{path} could not be read as a torch checkpoint ({reason}).") from None


# ---------------------------------------------------------------------------
# Official parameter names (the tables in models/predictor.py, models/reenactor.py).

def predictor_names() -> dict[str, str]:
  """GeometryPredictor module path -> official APBNet module name."""
  names = {"audio_fc": "trans_audio.0"}
  for i in range(5):
    names[f"freq_conv{i + 1}"] = f"audio1.{2 * i}"
    names[f"time_conv{i + 1}"] = f"audio2.{2 * i}"
  for i in range(3):
    names[f"pose_fc{i + 1}"] = f"trans_pose.{2 * i}"
    names[f"blink_fc{i + 1}"] = f"trans_eye.{2 * i}"
  for i in range(2):
    names[f"fuse_fc{i + 1}"] = f"trans_cat.{2 * i}"
  return names


def landmark_discriminator_names() -> dict[str, str]:
  """LandmarkDiscriminator module path -> official Discriminator module name."""
  names = {}
  for i in range(5):
    names[f"landmark_fc{i + 1}"] = f"layers1.{2 * i}"
    names[f"reference_fc{i + 1}"] = f"layers2.{2 * i}"
  for i in range(3):
    names[f"head_fc{i + 1}"] = f"layers3.{2 * i}"
  return names


def generator_names(n_blocks: int, dropout: bool, n_downsampling: int = 2) -> dict[str, str]:
  """ResnetGenerator module path -> official ResnetL2FaceGenerator module name."""
  second_conv = 6 if dropout else 5  # nn.Dropout sits between the two convs of a block
  names = {"stem": "model1.1", "head": f"model3.{3 * n_downsampling + 1}"}
  for i in range(n_downsampling):
    names[f"down_{i}"] = f"model1.{3 * i + 4}"
    names[f"up_{i}"] = f"model3.{3 * i}"
  for b in range(n_blocks):
    names[f"block_{b}/shortcut"] = f"model2.{b}.shortcut.0"
    names[f"block_{b}/conv_0"] = f"model2.{b}.conv_block.1"
    names[f"block_{b}/conv_1"] = f"model2.{b}.conv_block.{second_conv}"
  return names


def patch_discriminator_names(n_layers: int = 3) -> dict[str, str]:
  """PatchDiscriminator module path -> official NLayerDiscriminator module name."""
  return {"conv_0": "model.0", **{f"conv_{k}": f"model.{3 * k - 1}" for k in range(1, n_layers + 2)}}


# ---------------------------------------------------------------------------
# Layouts.

def _to_ours(w: np.ndarray) -> np.ndarray:
  """torch Conv2d (out, in, kh, kw) / ConvTranspose2d (in, out, kh, kw) -> (kh, kw, in|out, out|in);
  Linear (out, in) -> (in, out); biases as they are."""
  w = np.asarray(w, np.float32)
  return w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T if w.ndim == 2 else w


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
  return (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else tuple(reversed(shape))


def _listing(keys: set[str], limit: int = 6) -> str:
  keys = sorted(keys)
  return ", ".join(keys[:limit]) + (f" ... ({len(keys)} in all)" if len(keys) > limit else "")


def convert_params(state_dict: StateDict, names: dict[str, str], template: Any, what: str) -> Any:
  """An official state dict -> our parameter tree shaped like `template` (arrays or ShapeDtypeStructs).

  `names` maps our module paths ('block_0/conv_0') to official module names;
  `what` names the file in errors. Raises UserError on missing or extra
  entries and on shape mismatches.
  """
  flat = traverse_util.flatten_dict(template)
  wanted = {key: f"{names['/'.join(key[:-1])]}.{'weight' if key[-1] == 'kernel' else 'bias'}" for key in flat}
  have = {k for k in state_dict if not k.endswith(_IGNORED_SUFFIXES)}
  missing, extra = set(wanted.values()) - have, have - set(wanted.values())
  if missing or extra:
    parts = ([f"missing {_listing(missing)}"] if missing else []) + ([f"unexpected {_listing(extra)}"] if extra else [])
    raise UserError(f"{what} does not hold the parameters of this network ({'; '.join(parts)}). "
                    "Check that the right file was passed to the right option.")
  out, wrong = {}, []
  for key, official in wanted.items():
    w = _to_ours(state_dict[official])
    if w.shape != tuple(flat[key].shape):
      wrong.append(f"{official} is {tuple(state_dict[official].shape)}, expected {_torch_shape(flat[key].shape)}")
    out[key] = jnp.asarray(w)
  if wrong:
    raise UserError(f"{what}: parameter shapes do not fit this network ({'; '.join(wrong[:4])}"
                    f"{' ...' if len(wrong) > 4 else ''}).")
  return traverse_util.unflatten_dict(out)


def _state_dict(obj: Any, what: str) -> StateDict:
  """`obj` checked to be a plain state dict of arrays; DataParallel's 'module.' prefix dropped."""
  if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
    keys = _listing(set(map(str, obj))) if isinstance(obj, dict) else type(obj).__name__
    raise UserError(f"{what} is not a state dict of tensors (it holds {keys}).")
  if all(k.startswith("module.") for k in obj):
    obj = {k[len("module."):]: v for k, v in obj.items()}
  return obj


# ---------------------------------------------------------------------------
# The two networks.

def _state(task: Any, g_params: Any, d_params: Any | None, step: int, seed: int) -> Any:
  """A GanState with the given parameters (D fresh when None) and fresh Adam states."""
  from apb2face_jax.train.gan_state import GanState  # pylint: disable=g-import-not-at-top
  if d_params is None:
    d_params = task.create_state(jax.random.key(seed)).d_params
  state = GanState.create(g_params, d_params, task.tx, task.tx)
  return state.replace(step=jnp.asarray(step, jnp.int32))


def convert_predictor(obj: Any, what: str, step: int = 0) -> tuple[ml_collections.ConfigDict, Any, Any]:
  """The official predictor checkpoint (a dict with 'net_G', optionally 'net_D') -> (config, task, state)."""
  from apb2face_jax.train.predictor_task import PredictorTask  # pylint: disable=g-import-not-at-top
  from configs import predictor as predictor_config  # pylint: disable=g-import-not-at-top
  if not (isinstance(obj, dict) and "net_G" in obj):
    hint = " (a plain state dict: is it the reenactor's latest_net_G.pth?)" if isinstance(obj, dict) and any(
        isinstance(v, np.ndarray) for v in obj.values()) else ""
    raise UserError(f"{what} is not an official predictor checkpoint: it has no 'net_G' entry{hint}.")
  config = predictor_config.get_config("annvi")
  task = PredictorTask(config, steps_per_epoch=1)
  template = jax.eval_shape(task.create_state, jax.random.key(config.seed))
  g = convert_params(_state_dict(obj["net_G"], f"{what}['net_G']"), predictor_names(), template.g_params,
                     f"{what}['net_G']")
  d = None
  if "net_D" in obj:
    d = convert_params(_state_dict(obj["net_D"], f"{what}['net_D']"), landmark_discriminator_names(),
                       template.d_params, f"{what}['net_D']")
  return config, task, _state(task, g, d, step, config.seed)


def _reenactor_shape(g: StateDict, what: str) -> tuple[int, int, bool]:
  """(ngf, n_blocks, dropout) of an official ResnetL2FaceGenerator state dict."""
  if "model1.1.weight" not in g:
    hint = " (it holds 'net_G': is it the predictor checkpoint?)" if "net_G" in g else ""
    raise UserError(f"{what} is not an official resnet_9blocks_l2face generator: no model1.1.weight{hint}.")
  blocks = {int(m.group(1)) for k in g if (m := re.match(r"model2\.(\d+)\.", k))}
  dropout = not any(k.startswith("model2.0.conv_block.5.") for k in g)
  return int(g["model1.1.weight"].shape[0]), len(blocks), dropout


def convert_reenactor(g_obj: Any, d_obj: Any | None, what: str, step: int = 0) -> tuple[ml_collections.ConfigDict, Any, Any]:
  """The official generator state dict (and PatchGAN state dict or None) -> (config, task, state)."""
  from apb2face_jax.train.reenactor_task import ReenactorTask  # pylint: disable=g-import-not-at-top
  from configs import reenactor as reenactor_config  # pylint: disable=g-import-not-at-top
  if isinstance(g_obj, dict) and "net_G" in g_obj:
    raise UserError(f"{what} is a predictor checkpoint (it holds 'net_G'); pass it as --predictor.")
  g_sd = _state_dict(g_obj, what)
  config = reenactor_config.get_config("paper")
  ngf, n_blocks, dropout = _reenactor_shape(g_sd, what)
  config.generator = "resnet_9blocks_l2face"
  config.ngf, config.generator_kwargs.n_blocks = ngf, n_blocks
  config.dropout_rate = config.dropout_rate if dropout else 0.0
  d_what = f"the discriminator beside {what}"
  d_sd = None if d_obj is None else _state_dict(d_obj, d_what)
  if d_sd is not None and "model.0.weight" in d_sd:
    config.ndf = int(d_sd["model.0.weight"].shape[0])
  task = ReenactorTask(config, steps_per_epoch=1)
  template = jax.eval_shape(task.create_state, jax.random.key(config.seed))
  g = convert_params(g_sd, generator_names(n_blocks, dropout), template.g_params, what)
  d = None if d_sd is None else convert_params(d_sd, patch_discriminator_names(), template.d_params, d_what)
  return config, task, _state(task, g, d, step, config.seed)


def write_workdir(workdir: str | Path, config: ml_collections.ConfigDict, task: Any, state: Any,
                  data: dict[str, Any] | None = None) -> Path:
  """Writes `config.json` and the state as checkpoint `state.step` into a workdir without checkpoints.

  `data` is the checkpoint's record of the training data (`splits.record`); by
  default the official AnnVI features': 'compat' MFCCs at the features' assumed
  frame rate, their pose/blink centre unknown.
  """
  from apb2face_jax.models.checkpoints import CONFIG_FILE, Checkpoints  # pylint: disable=g-import-not-at-top
  from tfds_annvi.tfds_annvi_dataset_builder import FEATURES_FPS  # pylint: disable=g-import-not-at-top
  workdir = Path(workdir)
  if (workdir / "checkpoints").exists() and any((workdir / "checkpoints").iterdir()):
    raise UserError(f"{workdir} already holds checkpoints: choose another --out, or remove it first.")
  make_folder(workdir, "--out")
  (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
  if data is None:
    data = {**splits.UNKNOWN_DATA, "dataset": config.dataset, "fps": FEATURES_FPS, "mfcc_mode": "compat"}
  ckpts = Checkpoints(workdir, task.meta(), record={"model": task.model.settings, "data": data}, async_save=False)
  ckpts.save(int(state.step), state)
  ckpts.close()
  return workdir


def discriminator_beside(generator_path: Path) -> Path | None:
  """`<epoch>_net_D.pth` next to `<epoch>_net_G.pth`, if it exists."""
  if not generator_path.name.endswith("_net_G.pth"):
    return None
  path = generator_path.with_name(generator_path.name[: -len("G.pth")] + "D.pth")
  return path if path.is_file() else None


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog="python -m apb2face_jax.train.convert", description=__doc__.split("\n\n")[0])
  parser.add_argument("--predictor", type=Path, help="official predictor checkpoint (dict with net_G, net_D)")
  parser.add_argument("--reenactor", type=Path, help="official generator state dict, e.g. latest_net_G.pth")
  parser.add_argument("--out", type=Path, required=True, help="output directory (gets predictor/ and reenactor/)")
  parser.add_argument("--step", type=int, default=0, help="step number of the written checkpoints")
  args = parser.parse_args(argv)
  from apb2face_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.configure()
  try:
    if not (args.predictor or args.reenactor):
      raise UserError("nothing to convert: give --predictor PTH and/or --reenactor PTH.")
    if args.predictor:
      obj = load_torch_file(args.predictor)
      config, task, state = convert_predictor(obj, str(args.predictor), args.step)
      d_note = "converted" if "net_D" in obj else "fresh"
      print(f"predictor (epoch {obj.get('epoch', '?')}; D {d_note}) -> {write_workdir(args.out / 'predictor', config, task, state)}")
    if args.reenactor:
      d_path = discriminator_beside(args.reenactor)
      d_obj = load_torch_file(d_path) if d_path else None
      config, task, state = convert_reenactor(load_torch_file(args.reenactor), d_obj, str(args.reenactor), args.step)
      d_note = f"converted from {d_path}" if d_path else "fresh"
      print(f"reenactor (ngf {config.ngf}, {config.generator_kwargs.n_blocks} blocks; D {d_note}) -> "
            f"{write_workdir(args.out / 'reenactor', config, task, state)}")
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main()
