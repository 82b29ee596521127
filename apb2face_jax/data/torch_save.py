"""A restricted reader of `torch.save` files that needs no torch and runs no foreign code.

A `torch.save` file is a pickle, and unpickling runs whatever callables the
file names, so `pickle.load` (or `torch.load` without `weights_only`) of a
downloaded file can execute arbitrary code. This reader unpickles with an
allow-list: builtin containers and scalars (which pickle needs no global for)
and exactly the globals that rebuild numpy arrays, dtypes and scalars, plus
`_codecs.encode` limited to latin-1 (how protocol-2 pickles store bytes such
as an array's data). Any other global refuses the file with a `UserError`
naming the file and the global.

Two users:
- the released AnnVI features (`.t7`, docs/paper_and_code.md §5): dicts of lists, strings,
  floats and numpy arrays; torch tensors are refused (`allow_tensors=False`);
- official checkpoints (`.pth` state dicts) read by `apb2face_jax.train.convert`
  where torch is not installed (`allow_tensors=True`): tensors come back as
  numpy arrays, rebuilt from the archive's storages; `collections.OrderedDict`,
  `torch._utils._rebuild_tensor_v2` and the `torch.*Storage` dtypes are the
  only extra globals then.

Both `torch.save` formats are read:
- zip (torch >= 1.6, the default): a zip archive holding `<name>/data.pkl`
  (and `<name>/data/<key>` storages);
- legacy (`_use_new_zipfile_serialization=False`, torch < 1.6): pickles in a
  row (magic number, protocol version, system info, then the object); read
  with `allow_tensors=False` only (tensors' storages follow the pickles).
"""

import collections
import io
import os
import pickle
import zipfile
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from apb2face_jax.errors import UserError

# torch/serialization.py: the legacy format's first two pickles.
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1 / 2

# torch.<Name>Storage -> numpy dtype of the storage's elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}

Storages = Callable[[str, np.dtype], np.ndarray]  # (storage key, dtype) -> flat array


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
  """`_codecs.encode` limited to latin-1: how protocol-2 pickles store bytes."""
  if encoding not in ("latin1", "latin-1"):
    raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
  return text.encode("latin-1")


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *unused: Any) -> np.ndarray:
  """The array `torch._utils._rebuild_tensor_v2` would view in `storage`."""
  del unused  # requires_grad, backward hooks, metadata
  strides = [s * storage.itemsize for s in stride]
  return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=strides).copy()


def _allowed(tensors: bool) -> dict[tuple[str, str], Any]:
  """(module, name) -> object: everything a pickled numpy array (and, if `tensors`, a tensor) may name."""
  # `_reconstruct` + `ndarray.__setstate__` rebuild an array; `scalar` rebuilds
  # a numpy scalar (e.g. a np.float32 in a list) from its dtype and bytes.
  reconstruct = np.zeros(0).__reduce__()[0]
  scalar = np.float64(0).__reduce__()[0]
  table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
           ("_codecs", "encode"): _latin1_encode}
  for module in _NUMPY_CORE:
    table[(module, "_reconstruct")] = reconstruct
    table[(module, "scalar")] = scalar
  if tensors:
    table[("collections", "OrderedDict")] = collections.OrderedDict
    table[("torch._utils", "_rebuild_tensor_v2")] = _rebuild_tensor
    for name, dtype in _STORAGE_DTYPES.items():
      table[("torch", name)] = np.dtype(dtype)
  return table


class _Unpickler(pickle.Unpickler):
  """Unpickles the allow-listed globals only; `where` names the file in errors."""

  def __init__(self, file: io.BufferedIOBase, where: str, storages: Storages | None):
    super().__init__(file)
    self._where = where
    self._storages = storages
    self._table = _allowed(tensors=storages is not None)

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in self._table:
      return self._table[(module, name)]
    torch = module == "torch" or module.startswith("torch.")
    if self._storages is not None:
      hint = ("It is not a plain PyTorch state dict: install torch (pip install -r requirements-eval.txt) "
              "or pass an official APB2Face checkpoint.")
    elif torch:
      hint = "Torch tensors are not supported: save `tensor.numpy()` instead."
    else:
      hint = "Do not use files of unknown origin."
    raise UserError(f"{self._where} holds the pickle global '{module}.{name}', which this reader refuses "
                    f"(unpickling other globals can run code). {hint}")

  def persistent_load(self, pid: Any) -> Any:
    if self._storages is None:
      raise UserError(
          f"{self._where} holds a torch storage (persistent id {str(pid)[:60]!r}), i.e. a torch tensor: "
          "this reader loads numpy arrays and builtin types only; save `tensor.numpy()` instead.")
    if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
      raise UserError(f"{self._where}: unknown persistent record {str(pid)[:60]!r} in a torch checkpoint.")
    _, dtype, key, _, _ = pid
    return self._storages(str(key), dtype)


def _unpickle(data: io.BufferedIOBase, where: str, storages: Storages | None = None) -> Any:
  try:
    return _Unpickler(data, where, storages).load()
  except UserError:
    raise
  except Exception as e:  # corrupt pickles raise many types
    raise UserError(f"{where} is not a readable torch.save file ({type(e).__name__}: "
                    f"{e}); it may be truncated or corrupt: get it again.") from None


def _zip_storages(archive: zipfile.ZipFile, prefix: str) -> Storages:
  """Reads (and caches) `<prefix>data/<key>` as a flat array of the storage's dtype."""
  order = prefix + "byteorder"
  byteorder = "<" if order not in archive.namelist() or archive.read(order) == b"little" else ">"
  cache: dict[str, np.ndarray] = {}

  def storage(key: str, dtype: np.dtype) -> np.ndarray:
    if key not in cache:
      cache[key] = np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype.newbyteorder(byteorder))
    return cache[key]

  return storage


def load(path: str | os.PathLike, allow_tensors: bool = False) -> Any:
  """The object saved in a `torch.save` file, read with the restricted unpickler.

  `allow_tensors`: rebuild torch tensors (zip format only) as numpy arrays.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing: check the path.")
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      names = [n for n in archive.namelist() if n == "data.pkl" or (n.endswith("/data.pkl") and n.count("/") == 1)]
      if len(names) != 1:
        raise UserError(f"{path} is a zip archive without exactly one "
                        "'<name>/data.pkl': it is not a torch.save file.")
      prefix = names[0][: -len("data.pkl")]
      with archive.open(names[0]) as f:
        data = io.BytesIO(f.read())
      return _unpickle(data, f"{path} ({names[0]})", _zip_storages(archive, prefix) if allow_tensors else None)
  if allow_tensors:
    raise UserError(f"{path} is not a zip-format torch checkpoint (PyTorch >= 1.6). An older file needs "
                    "torch to read: pip install -r requirements-eval.txt")
  with open(path, "rb") as f:
    for expected in (LEGACY_MAGIC, LEGACY_PROTOCOL):
      value = _unpickle(f, path)
      if type(value) is not int or value != expected:  # pylint: disable=unidiomatic-typecheck
        raise UserError(f"{path} is neither a zip nor a legacy torch.save file "
                        "(no magic number): it was not made by torch.save.")
    _unpickle(f, path)  # system info
    return _unpickle(f, path)
