"""Speed of the official APB2Face PyTorch modules against ours, in one process on one machine.

Needs torch (pip install -r requirements-eval.txt) and a checkout of the
official code, from which the modules are imported as they are:

  git clone https://github.com/zhangzjn/APB2Face /tmp/APB2Face   # docs/paper_and_code.md describes commit 92d70ec
  python bench/compare_official.py --official-repo /tmp/APB2Face

Both sides get random weights (timing does not depend on their values), the same
shapes, float32 unless a row says bf16. PyTorch runs with `torch.set_num_threads`
= the cores JAX's CPU backend uses, on CUDA when torch sees a GPU; ours on JAX's
default device (XLA flags from `apb2face_jax.runtime`). Each row: warm-up calls
(compilation included), then `--rounds` rounds alternating official and ours,
each round timing enough calls to fill `--min-time`; the table shows medians
per call and the ratio speed(ours) / speed(official) (> 1: we are faster).
The train steps are one G update and one D update each, with the official
losses (the reenactor's without the paper's mask loss, as the official code).
Prints a Markdown table.
"""

import argparse
import functools
import importlib.util
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402  (configures JAX first: XLA flags, compile cache)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from apb2face_jax import inference  # noqa: E402
from apb2face_jax.train.gan_state import GanState  # noqa: E402
from apb2face_jax.train.predictor_task import PredictorTask  # noqa: E402
from apb2face_jax.train.reenactor_task import ReenactorTask  # noqa: E402
from configs import predictor as predictor_config  # noqa: E402
from configs import reenactor as reenactor_config  # noqa: E402

PREDICTOR_TRAIN_BATCH = 32  # docs/paper_and_code.md §3: batch 32


def cores() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ---------------------------------------------------------------------------
# The official modules, imported from the checkout.

def _load(name: str, path: Path) -> types.ModuleType:
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  return module


def official_modules(repo: Path) -> tuple[types.ModuleType, types.ModuleType]:
  """(audio2landmark/APBNet.py, landmark2face/models/networks.py) of the official checkout."""
  for f in ("audio2landmark/APBNet.py", "landmark2face/models/networks.py", "landmark2face/models/networks_l2face.py"):
    if not (repo / f).is_file():
      sys.exit(f"error: {repo / f} not found: --official-repo must be a checkout of zhangzjn/APB2Face.")
  apbnet = _load("official_apbnet", repo / "audio2landmark/APBNet.py")
  package = types.ModuleType("official_models")  # networks.py imports networks_l2face relatively
  package.__path__ = [str(repo / "landmark2face/models")]
  sys.modules["official_models"] = package
  return apbnet, _load("official_models.networks", repo / "landmark2face/models/networks.py")


# ---------------------------------------------------------------------------
# Timing.

class Timer:
  """Alternating rounds of two callables; medians per call."""

  def __init__(self, rounds: int, min_time: float, warmup: int):
    self.rounds, self.min_time, self.warmup = rounds, min_time, warmup

  def _calls_per_sample(self, fn: Callable[[], None]) -> int:
    t = time.perf_counter()
    fn()
    return max(1, int(self.min_time / max(time.perf_counter() - t, 1e-6)))

  def compare(self, official: Callable[[], None], ours: Callable[[], None]) -> tuple[float, float]:
    for _ in range(self.warmup):
      official()
      ours()
    fns = [official, ours]
    counts = [self._calls_per_sample(f) for f in fns]
    samples: list[list[float]] = [[], []]
    for r in range(self.rounds):
      for i in (0, 1) if r % 2 == 0 else (1, 0):
        t = time.perf_counter()
        for _ in range(counts[i]):
          fns[i]()
        samples[i].append((time.perf_counter() - t) / counts[i])
    return statistics.median(samples[0]), statistics.median(samples[1])


def random_state(task) -> GanState:
  """A train state with Normal(0, 0.02) parameters (no init forward pass: fast for big networks)."""
  template = jax.eval_shape(task.create_state, jax.random.key(0))
  leaves, tree = jax.tree.flatten((template.g_params, template.d_params))
  keys = jax.random.split(jax.random.key(0), len(leaves))
  g, d = jax.tree.unflatten(tree, [0.02 * jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, leaves)])
  return GanState.create(g, d, task.tx, task.tx)


# ---------------------------------------------------------------------------
# The benchmark cases: each returns (official_fn, ours_fn) closures.

class Cases:

  def __init__(self, apbnet: types.ModuleType, networks: types.ModuleType, device: torch.device):
    self.apbnet, self.networks, self.device = apbnet, networks, device
    self.rng = np.random.default_rng(0)
    self.sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None

  def _t(self, x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).to(self.device)

  def _normal(self, *shape) -> np.ndarray:
    return self.rng.normal(size=shape).astype(np.float32)

  # Predictor ---------------------------------------------------------------

  def _predictor_inputs(self, b: int) -> dict[str, np.ndarray]:
    return {"mfcc": self._normal(b, 64, 60), "pose": self._normal(b, 3), "blink": self._normal(b, 2),
            "landmarks": self.rng.uniform(60, 200, (b, 106, 2)).astype(np.float32),
            "ref_landmarks": self.rng.uniform(60, 200, (b, 106, 2)).astype(np.float32)}

  def predictor_task(self) -> PredictorTask:
    return PredictorTask(predictor_config.get_config(), steps_per_epoch=1)

  def predictor_inference(self, b: int):
    g = self.apbnet.APBNet().to(self.device).eval()
    x = self._predictor_inputs(b)
    mfcc, pose, blink = self._t(x["mfcc"][:, None]), self._t(x["pose"]), self._t(x["blink"])

    def official():
      with torch.no_grad():
        g(mfcc, pose, blink)
      self.sync()

    task = self.predictor_task()
    params = random_state(task).g_params
    predict = jax.jit(inference.inference_predict(task))  # as inference.Predictor runs it
    batch = jax.device_put({k: x[k] for k in ("mfcc", "pose", "blink")})
    ours = lambda: predict(params, batch).block_until_ready()  # noqa: E731
    whole = jax.jit(task.predict).lower(params, batch)  # counted unchunked: a loop's body is counted once
    flops = (whole.cost_analysis() or {}).get("flops", float("nan"))  # CPU: before optimisation
    return official, ours, flops

  def predictor_train(self, b: int):
    g, d = self.apbnet.APBNet().to(self.device).train(), self.apbnet.Discriminator().to(self.device).train()
    opt_g = torch.optim.Adam(g.parameters(), lr=3e-4, betas=(0.99, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=3e-4, betas=(0.99, 0.999))
    x = self._predictor_inputs(b)
    mfcc, pose, blink = self._t(x["mfcc"][:, None]), self._t(x["pose"]), self._t(x["blink"])
    real, ref = self._t(x["landmarks"].reshape(b, -1)), self._t(x["ref_landmarks"].reshape(b, -1))
    mse, l1 = nn.MSELoss(), nn.L1Loss()

    def official():  # docs/paper_and_code.md §3, in the official order: G step, then D step on the same prediction
      fake = g(mfcc, pose, blink)
      for p in d.parameters():
        p.requires_grad_(False)
      opt_g.zero_grad()
      judged = d(fake, ref)
      (100 * l1(fake, real) + 0.1 * mse(judged, torch.ones_like(judged))).backward()
      opt_g.step()
      for p in d.parameters():
        p.requires_grad_(True)
      opt_d.zero_grad()
      j_fake, j_real = d(fake.detach(), ref), d(real, ref)
      (0.1 * 0.5 * (mse(j_fake, torch.zeros_like(j_fake)) + mse(j_real, torch.ones_like(j_real)))).backward()
      opt_d.step()
      self.sync()

    task = self.predictor_task()
    step = jax.jit(task.train_step, donate_argnums=(0,))
    holder = [random_state(task)]
    batch = jax.device_put(x)
    key = jax.random.key(1)

    def ours():
      holder[0], metrics = step(holder[0], batch, key)
      jax.block_until_ready(metrics)

    return official, ours

  # Reenactor ---------------------------------------------------------------

  def reenactor_task(self, dtype: str) -> ReenactorTask:
    config = reenactor_config.get_config("paper")
    config.dtype = dtype
    config.mask_weight = 0.0  # the official losses
    return ReenactorTask(config, steps_per_epoch=1)

  def _official_g(self) -> nn.Module:
    norm = self.networks.get_norm_layer("instance")
    return self.networks.ResnetL2FaceGenerator(3, 3, 64, norm_layer=norm, use_dropout=True, n_blocks=9).to(self.device)

  def reenactor_inference(self, b: int, bf16: bool):
    g = self._official_g().eval()
    x = self.rng.uniform(-1, 1, (b, 256, 256, 3)).astype(np.float32)
    xt = self._t(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def official():
      with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
        g(xt)
      self.sync()

    task = self.reenactor_task("bfloat16" if bf16 else "float32")
    params = random_state(task).g_params
    generate = jax.jit(lambda p, x: task.generate(p, {}, x, None)[0])
    xj = jax.device_put(x)
    ours = lambda: generate(params, xj).block_until_ready()  # noqa: E731
    return official, ours

  def reenactor_train(self, b: int, bf16: bool):
    g = self._official_g().train()
    d = self.networks.NLayerDiscriminator(6, 64, 3, norm_layer=self.networks.get_norm_layer("instance"))
    d = d.to(self.device).train()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    image = self.rng.uniform(-1, 1, (b, 256, 256, 3)).astype(np.float32)
    ref_image = self.rng.uniform(-1, 1, (b, 256, 256, 3)).astype(np.float32)
    landmarks = self.rng.uniform(60, 200, (b, 106, 2)).astype(np.float32)
    nchw = lambda a: self._t(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    drawn, real, ref = nchw(np.zeros_like(image)), nchw(image), nchw(ref_image)

    autocast = functools.partial(torch.autocast, self.device.type, dtype=torch.bfloat16, enabled=bf16)

    def official():  # docs/paper_and_code.md §4, pix2pix order: D step on (ref, fake) vs (ref, real), then G step
      with autocast():
        fake = g(drawn)
      for p in d.parameters():
        p.requires_grad_(True)
      opt_d.zero_grad()
      with autocast():
        j_fake, j_real = d(torch.cat([ref, fake.detach()], 1)), d(torch.cat([ref, real], 1))
        loss_d = 0.5 * (bce(j_fake, torch.zeros_like(j_fake)) + bce(j_real, torch.ones_like(j_real)))
      loss_d.backward()
      opt_d.step()
      for p in d.parameters():
        p.requires_grad_(False)
      opt_g.zero_grad()
      with autocast():
        judged = d(torch.cat([ref, fake], 1))
        loss_g = bce(judged, torch.ones_like(judged)) + 100 * l1(fake, real)
      loss_g.backward()
      opt_g.step()
      self.sync()

    task = self.reenactor_task("bfloat16" if bf16 else "float32")
    step = jax.jit(task.train_step, donate_argnums=(0,))
    holder = [random_state(task)]
    batch = jax.device_put({"image": image, "ref_image": ref_image, "landmarks": landmarks})
    key = jax.random.key(1)

    def ours():
      holder[0], metrics = step(holder[0], batch, key)
      jax.block_until_ready(metrics)

    return official, ours


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--official-repo", type=Path, required=True, help="checkout of zhangzjn/APB2Face")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed sample")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--predictor-batch", type=int, default=256, help="the batched predictor row")
  parser.add_argument("--reenactor-train-batch", type=int, default=2)
  parser.add_argument("--reenactor-batch", type=int, default=32, help="batched reenactor row (accelerators only)")
  parser.add_argument("--only", default="", help="comma-separated row keys to run (default: all): "
                      "pred1,predB,predtrain,reen1,reen1bf16,reenB,reentrain,reentrainbf16")
  args = parser.parse_args()

  threads = cores()
  torch.set_num_threads(threads)
  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  apbnet, networks = official_modules(args.official_repo)
  torch.manual_seed(0)
  cases = Cases(apbnet, networks, device)
  timer = Timer(args.rounds, args.min_time, args.warmup)
  on_accelerator = jax.default_backend() != "cpu"
  only = set(filter(None, args.only.split(",")))
  want = lambda key: not only or key in only  # noqa: E731

  rows = []
  notes = []
  peak = common.matmul_peak()

  def row(key, name, unit_batch, cases_fn, target=""):
    if not want(key):
      return None
    result = cases_fn()
    official, ours = result[:2]
    t_off, t_ours = timer.compare(official, ours)
    rows.append((name, t_off, t_ours, unit_batch, target))
    print(f"  {name}: official {t_off * 1e3:.2f} ms, ours {t_ours * 1e3:.2f} ms", file=sys.stderr, flush=True)
    return result, t_ours

  pb = args.predictor_batch
  row("pred1", "predictor inference, batch 1", 1, lambda: cases.predictor_inference(1), ">= 2x")
  res = row("predB", f"predictor inference, batch {pb}", pb, lambda: cases.predictor_inference(pb),
            ">= 2x, >= 70 % of fp32 GEMM peak")
  if res and not on_accelerator:  # XLA's GPU cost analysis undercounts fused convolutions
    (_, _, flops), t_ours = res
    notes.append(f"batched predictor: {flops / pb / 1e9:.3f} GFLOP per sample (XLA cost analysis); ours "
                 f"{flops / t_ours / 1e9:.0f} GFLOP/s = {100 * flops / t_ours / 1e9 / peak:.0f} % of the "
                 f"measured fp32 GEMM peak {peak:.0f} GFLOP/s")
  row("predtrain", f"predictor G+D train step, batch {PREDICTOR_TRAIN_BATCH}", PREDICTOR_TRAIN_BATCH,
      lambda: cases.predictor_train(PREDICTOR_TRAIN_BATCH), ">= 2x")
  row("reen1", "reenactor inference 256x256, batch 1, fp32", 1, lambda: cases.reenactor_inference(1, False),
      ">= 1.0x" + (", >= 300 FPS (H100)" if on_accelerator else ""))
  row("reen1bf16", "reenactor inference, batch 1, bf16 (official: autocast bf16)", 1,
      lambda: cases.reenactor_inference(1, True), ">= 1.0x")
  if on_accelerator:
    rb = args.reenactor_batch
    row("reenB", f"reenactor inference, batch {rb}, bf16 (official: autocast bf16)", rb,
        lambda: cases.reenactor_inference(rb, True), ">= 1500 FPS (H100)")
  tb = args.reenactor_train_batch
  row("reentrain", f"reenactor G+D train step, batch {tb}, fp32", tb, lambda: cases.reenactor_train(tb, False),
      ">= 250 samples/s (H100)" if on_accelerator else "")
  if on_accelerator:
    row("reentrainbf16", f"reenactor G+D train step, batch {tb}, bf16 (official: autocast bf16)", tb,
        lambda: cases.reenactor_train(tb, True), ">= 250 samples/s (H100)")

  print(f"\nMachine: {platform.processor() or platform.machine()}, {threads} cores; "
        f"ours on JAX {jax.__version__} {jax.devices()[0].device_kind}; official on torch {torch.__version__} "
        f"({device.type}, {torch.get_num_threads()} threads). XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}\n")
  print("| case | official | ours | ours / official speed | ours per second | target |")
  print("|---|---|---|---|---|---|")
  for name, t_off, t_ours, n, target in rows:
    print(f"| {name} | {t_off * 1e3:.2f} ms | {t_ours * 1e3:.2f} ms | {t_off / t_ours:.2f}x | "
          f"{n / t_ours:.1f} samples/s | {target} |")
  for note in notes:
    print(f"\n{note}")


if __name__ == "__main__":
  main()
