"""A restricted reader of `torch.save` files (`.t7`) holding numpy arrays.

The released AnnVI features (SPEC 5) are `torch.save` dicts of lists, strings,
floats and numpy arrays. A `torch.save` file is a pickle, and unpickling runs
whatever callables the file names, so `pickle.load` / `torch.load` of a
downloaded file can execute arbitrary code. This reader needs no torch and
unpickles with an allow-list: builtin containers and scalars (which pickle
needs no global for) and exactly the globals that rebuild numpy arrays,
dtypes and scalars, plus `_codecs.encode` limited to latin-1 (how protocol-2
pickles, torch's default, store bytes such as an array's data). Any other
global refuses the file with a `UserError` naming the file and the global.

Both `torch.save` formats are read:
- zip (torch >= 1.6, the default): a zip archive holding `<name>/data.pkl`;
- legacy (`_use_new_zipfile_serialization=False`, torch < 1.6): pickles in a
  row (magic number, protocol version, system info, then the object).

Torch tensors are NOT supported: their pickle references storages and torch
globals (`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`, ...). The
released AnnVI `.t7` files hold numpy arrays and lists only; a file with a
tensor is refused with a message saying to save `tensor.numpy()` instead.
"""

import io
import os
import pickle
import zipfile
from typing import Any

from apb2face_jax.errors import UserError

# torch/serialization.py: the legacy format's first two pickles.
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1 / 2


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
  """`_codecs.encode` limited to latin-1: how protocol-2 pickles store bytes."""
  if encoding not in ("latin1", "latin-1"):
    raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
  return text.encode("latin-1")


def _allowed() -> dict[tuple[str, str], Any]:
  """(module, name) -> object: everything a pickled numpy array may name."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  # `_reconstruct` + `ndarray.__setstate__` rebuild an array; `scalar` rebuilds
  # a numpy scalar (e.g. a np.float32 in a list) from its dtype and bytes.
  reconstruct = np.zeros(0).__reduce__()[0]
  scalar = np.float64(0).__reduce__()[0]
  table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
           ("_codecs", "encode"): _latin1_encode}
  for module in _NUMPY_CORE:
    table[(module, "_reconstruct")] = reconstruct
    table[(module, "scalar")] = scalar
  return table


class _Unpickler(pickle.Unpickler):
  """Unpickles builtins and numpy arrays only; `where` names the file."""

  def __init__(self, file: io.BufferedIOBase, where: str):
    super().__init__(file)
    self._where = where
    self._table = _allowed()

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in self._table:
      return self._table[(module, name)]
    torch = module == "torch" or module.startswith("torch.")
    raise UserError(
        f"{self._where} holds the pickle global '{module}.{name}', which this "
        "reader refuses: it loads only numpy arrays and builtin types, since "
        "unpickling other globals can run code. "
        + ("Torch tensors are not supported: save `tensor.numpy()` instead."
           if torch else "Do not use files of unknown origin."))

  def persistent_load(self, pid: Any) -> Any:
    raise UserError(
        f"{self._where} holds a torch storage (persistent id "
        f"{str(pid)[:60]!r}), i.e. a torch tensor: this reader loads numpy "
        "arrays and builtin types only; save `tensor.numpy()` instead.")


def _unpickle(data: io.BufferedIOBase, where: str) -> Any:
  try:
    return _Unpickler(data, where).load()
  except UserError:
    raise
  except Exception as e:  # corrupt pickles raise many types
    raise UserError(f"{where} is not a readable torch.save file ({type(e).__name__}: "
                    f"{e}); it may be truncated or corrupt: download it again.") from None


def load(path: str | os.PathLike) -> Any:
  """The object saved in a `.t7` / `.pt` file, read with the restricted unpickler."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing: check the path.")
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      names = [n for n in archive.namelist()
               if n.endswith("/data.pkl") and n.count("/") == 1]
      if len(names) != 1:
        raise UserError(f"{path} is a zip archive without exactly one "
                        "'<name>/data.pkl': it is not a torch.save file.")
      with archive.open(names[0]) as f:
        return _unpickle(io.BytesIO(f.read()), f"{path} ({names[0]})")
  with open(path, "rb") as f:
    for expected in (LEGACY_MAGIC, LEGACY_PROTOCOL):
      value = _unpickle(f, path)
      if type(value) is not int or value != expected:  # pylint: disable=unidiomatic-typecheck
        raise UserError(f"{path} is neither a zip nor a legacy torch.save file "
                        "(no magic number): it is not a .t7 made by torch.save.")
    _unpickle(f, path)  # system info
    return _unpickle(f, path)
