"""NumPy arrays and PyTorch CPU tensors seen alike: kinds, dtypes, zero-copy views."""

import sys

import numpy as np

def torch_module():
    """The torch module if it is imported (attn never imports it for NumPy inputs)."""
    return sys.modules.get("torch")


def is_tensor(x):
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def kind_of(*arrays, names=("query", "key", "value")):
    """'numpy' or 'torch' (tensors checked: dense, on the CPU); TypeError for anything else or
    a mix of the two."""
    if all(type(x) is np.ndarray for x in arrays):  # the common case, first
        return "numpy"
    kinds = set()
    for x, name in zip(arrays, names):
        if isinstance(x, np.ndarray):
            kinds.add("numpy")
        elif is_tensor(x):
            check_tensor(x, name)
            kinds.add("torch")
        else:
            raise TypeError(f"{name}: expected a NumPy array or a PyTorch tensor, "
                            f"got {type(x).__name__}")
    if len(kinds) != 1:
        raise TypeError("query, key and value must all be NumPy arrays or all PyTorch tensors")
    return kinds.pop()


def check_tensor(t, name):
    """ValueError for a tensor off the CPU, TypeError for a sparse (non-strided) one."""
    torch = torch_module()
    if t.layout is not torch.strided:
        raise TypeError(f"{name}: sparse or other non-strided tensors are not supported "
                        f"(layout {t.layout}); pass a dense tensor")
    if not t.is_cpu:
        raise ValueError(f"{name}: attn runs on the CPU, got a tensor on {t.device}")


def float_dtype(*arrays, names=("query", "key", "value")):
    """np.float32 or np.float64, the dtype every array shares; TypeError otherwise."""
    dtypes = [_FLOAT_TYPES.get(x.dtype if is_tensor(x) else x.dtype.type) for x in arrays]
    if dtypes[0] is not None and all(d is dtypes[0] for d in dtypes):
        return dtypes[0]
    names_seen = [dtype_name(x) for x in arrays]
    for dt, x, name in zip(dtypes, names_seen, names):
        if dt is None:
            raise TypeError(f"{name}: expected float32 or float64, got {x}")
    raise TypeError("query, key and value must share one dtype, got " + ", ".join(names_seen))


class _FloatTypes(dict):
    """{np.float32 or a torch float32 dtype: np.float32, ... float64 likewise}; torch's dtypes
    are added when torch is first seen."""

    def get(self, key):
        value = dict.get(self, key)
        if value is None and "torch" in sys.modules and len(self) == 2:
            torch = sys.modules["torch"]
            self[torch.float32], self[torch.float64] = np.float32, np.float64
            value = dict.get(self, key)
        return value


_FLOAT_TYPES = _FloatTypes({np.float32: np.float32, np.float64: np.float64})


def dtype_name(x):
    """'float32', 'bfloat16', ... for an array or a tensor."""
    if isinstance(x, np.ndarray):
        return x.dtype.name
    return str(x.dtype).replace("torch.", "")


def as_numpy(x, name="array"):
    """The NumPy view of an array or CPU tensor (shares memory; never copies)."""
    if x is None or isinstance(x, np.ndarray):
        return x
    if is_tensor(x):
        check_tensor(x, name)
        return x.detach().numpy() if x.requires_grad else x.numpy()
    return np.asarray(x)


def reshape_view(x, shape, name):
    """x reshaped without a copy; ValueError when its strides do not allow it."""
    if is_tensor(x):
        try:
            return x.view(shape)
        except RuntimeError:
            pass
    else:
        v = x.view()
        try:
            v.shape = shape
            return v
        except AttributeError:
            pass
    raise ValueError(f"{name}: its leading dimensions cannot be merged without a copy "
                     f"(shape {tuple(x.shape)}, strides {strides_of(x)}); pass a contiguous one")


def strides_of(x):
    if is_tensor(x):
        return tuple(x.stride())
    return tuple(s // x.itemsize for s in x.strides)


def wrap_like(kind, array):
    """A NumPy result as the caller's kind: itself, or a tensor sharing its memory."""
    if array is None or kind == "numpy":
        return array
    return torch_module().from_numpy(array)
