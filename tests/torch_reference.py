"""PyTorch modules with the official APB2Face layer structure and parameter names (tests only).

Written from docs/paper_and_code.md §1-§4 so that the parity tests can make
checkpoints in the official format without the original code: the module
attribute names and `nn.Sequential` indices reproduce the official state-dict
keys listed in apb2face_jax/models/predictor.py and models/reenactor.py.
"""

import torch
from torch import nn


def _relu_between(layers: list[nn.Module], activation: type[nn.Module] | None = None) -> nn.Sequential:
  """layer, act, layer, act, ..., layer (activation after every layer but the last)."""
  seq: list[nn.Module] = []
  for i, layer in enumerate(layers):
    seq.append(layer)
    if i < len(layers) - 1:
      seq.append(activation() if activation else nn.ReLU())
  return nn.Sequential(*seq)


class Predictor(nn.Module):
  """docs/paper_and_code.md §1: official `APBNet` names (audio1, audio2, trans_audio, trans_pose, trans_eye, trans_cat)."""

  def __init__(self):
    super().__init__()
    freq = [1, 72, 108, 162, 243, 256]
    self.audio1 = nn.Sequential(*[m for a, b in zip(freq, freq[1:]) for m in (
        nn.Conv2d(a, b, (1, 3), stride=(1, 2), padding=(0, 1)), nn.ReLU())])
    time = [m for _ in range(4) for m in (nn.Conv2d(256, 256, (3, 1), stride=(2, 1), padding=(1, 0)), nn.ReLU())]
    self.audio2 = nn.Sequential(*time, nn.Conv2d(256, 256, (4, 1), stride=(4, 1)), nn.ReLU())
    self.trans_audio = nn.Sequential(nn.Linear(512, 256))
    self.trans_pose = _relu_between([nn.Linear(3, 64), nn.Linear(64, 64), nn.Linear(64, 64)])
    self.trans_eye = _relu_between([nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 64)])
    self.trans_cat = _relu_between([nn.Linear(384, 240), nn.Linear(240, 212)])

  def forward(self, mfcc: torch.Tensor, pose: torch.Tensor, blink: torch.Tensor) -> torch.Tensor:
    audio = self.audio2(self.audio1(mfcc)).flatten(1)  # (B, C, H, W) order
    fused = torch.cat([self.trans_audio(audio), self.trans_pose(pose), self.trans_eye(blink)], dim=1)
    return self.trans_cat(fused)


class LandmarkDiscriminator(nn.Module):
  """docs/paper_and_code.md §2: official `Discriminator` names (layers1, layers2, layers3)."""

  def __init__(self):
    super().__init__()
    lrelu = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    branch = lambda: _relu_between(  # noqa: E731
        [nn.Linear(212, 512)] + [nn.Linear(512, 512) for _ in range(3)] + [nn.Linear(512, 64)], lrelu)
    self.layers1, self.layers2 = branch(), branch()
    self.layers3 = _relu_between([nn.Linear(128, 128), nn.Linear(128, 32), nn.Linear(32, 1)], lrelu)

  def forward(self, landmarks: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return self.layers3(torch.cat([self.layers1(landmarks), self.layers2(reference)], dim=1))


class Block(nn.Module):
  """docs/paper_and_code.md §4 block: shortcut = Conv + IN; conv_block = Pad, Conv, IN, ReLU, [Dropout], Pad, Conv, IN."""

  def __init__(self, width: int, dropout: bool):
    super().__init__()
    norm = lambda: nn.InstanceNorm2d(width)  # noqa: E731  (affine=False, no running stats)
    self.shortcut = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), norm())
    body = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), norm(), nn.ReLU()]
    body += [nn.Dropout(0.5)] if dropout else []
    self.conv_block = nn.Sequential(*body, nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), norm())

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.shortcut(x) + self.conv_block(x)


class Generator(nn.Module):
  """docs/paper_and_code.md §4 'resnet_9blocks_l2face': official `ResnetL2FaceGenerator` names (model1, model2, model3)."""

  def __init__(self, ngf: int = 64, n_blocks: int = 9, dropout: bool = True):
    super().__init__()
    stem = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU()]
    for i in range(2):
      a, b = ngf * 2**i, ngf * 2 ** (i + 1)
      stem += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.InstanceNorm2d(b), nn.ReLU()]
    self.model1 = nn.Sequential(*stem)
    self.model2 = nn.Sequential(*[Block(ngf * 4, dropout) for _ in range(n_blocks)])
    up: list[nn.Module] = []
    for i in range(2):
      a, b = ngf * 2 ** (2 - i), ngf * 2 ** (1 - i)
      up += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(b), nn.ReLU()]
    self.model3 = nn.Sequential(*up, nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.model3(self.model2(self.model1(x)))


class PatchDiscriminator(nn.Module):
  """docs/paper_and_code.md §4 70x70 PatchGAN with InstanceNorm: official `NLayerDiscriminator` names (model.0, .2, .5, .8, .11)."""

  def __init__(self, input_channels: int = 6, ndf: int = 64, n_layers: int = 3):
    super().__init__()
    layers: list[nn.Module] = [nn.Conv2d(input_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
    width = ndf
    for k in range(1, n_layers + 1):
      new = ndf * min(2**k, 8)
      stride = 2 if k < n_layers else 1
      layers += [nn.Conv2d(width, new, 4, stride=stride, padding=1), nn.InstanceNorm2d(new), nn.LeakyReLU(0.2)]
      width = new
    self.model = nn.Sequential(*layers, nn.Conv2d(width, 1, 4, stride=1, padding=1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.model(x)


def randomise(module: nn.Module, seed: int, scale: float = 0.05) -> nn.Module:
  """Fills every parameter with seeded Normal(0, scale) values (biases too, so that bias mix-ups show)."""
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in module.parameters():
      p.copy_(torch.randn(p.shape, generator=gen) * scale)
  return module.eval()
