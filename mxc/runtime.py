"""MXNet's ``mx.runtime``: which features this build has, found out on this machine.

MXNet reported the switches its C++ library was compiled with. mxc reports what it can really
use here: ``CUDA`` when torch sees a GPU, ``CPU_AVX2`` when the host CPU (as LLVM sees it) has
AVX2 and mxc's LLVM kernels therefore use it, ``MKLDNN`` when torch's oneDNN backs the GEMM and
convolution library calls, and so on. MXNet's feature names come first, in MXNet's order, so
scripts that ask ``Features().is_enabled("MKLDNN")`` keep working; mxc's own features (``LLVM``,
``TRITON``, ``AVX512``, ``BF16``) follow. (Not to be confused with the project's top-level
``runtime`` package, which holds the executor and the Module hierarchy.)
"""
from __future__ import annotations

import collections
import importlib.util

from .base import MXNetError, check_call  # noqa: F401  (check_call: MXNet's module has it)

__all__ = ["Feature", "Features", "feature_list"]


class UnknownFeatureError(MXNetError, RuntimeError):
    """A feature name this build does not know (MXNet raises RuntimeError)."""


class Feature:
    """One feature: ``name`` and ``enabled``; printed as MXNet prints it (``✔ CUDA``)."""

    __slots__ = ("name", "enabled")

    def __init__(self, name: str, enabled: bool):
        self.name = name
        self.enabled = bool(enabled)

    def __repr__(self):
        return ("✔ " if self.enabled else "✖ ") + self.name


def _host_cpu_features() -> set[str]:
    try:
        import llvmlite.binding as llvm
        from .codegen.llvm import _init
        _init()
        return {f[1:] for f in llvm.get_host_cpu_features().flatten().split(",")
                if f.startswith("+")}
    except Exception:  # noqa: BLE001 - no LLVM: report no CPU extensions rather than fail
        return set()


def _torch_config() -> str:
    try:
        import torch
        return torch.__config__.show()
    except Exception:  # noqa: BLE001
        return ""


def _detect() -> list[tuple[str, bool]]:
    import torch
    cpu = _host_cpu_features()
    config = _torch_config()
    cuda = torch.cuda.is_available()
    triton = importlib.util.find_spec("triton") is not None
    try:
        import torch.distributed as dist
        dist_ok = dist.is_available()
        nccl = cuda and dist_ok and dist.is_nccl_available()
    except Exception:  # noqa: BLE001
        dist_ok = nccl = False
    mkl = "BLAS_INFO=mkl" in config
    profiler = importlib.util.find_spec("runtime.profiler") is not None
    return [
        # MXNet 1.9.1's names, in its order
        ("CUDA", cuda),
        ("CUDNN", cuda and torch.backends.cudnn.is_available()),
        ("NCCL", nccl),
        ("CUDA_RTC", cuda and triton),          # kernels compiled at run time (Triton)
        ("TENSORRT", False),
        ("CPU_SSE", "sse" in cpu),
        ("CPU_SSE2", "sse2" in cpu),
        ("CPU_SSE3", "sse3" in cpu),
        ("CPU_SSE4_1", "sse4.1" in cpu),
        ("CPU_SSE4_2", "sse4.2" in cpu),
        ("CPU_SSE4A", "sse4a" in cpu),
        ("CPU_AVX", "avx" in cpu),
        ("CPU_AVX2", "avx2" in cpu),
        ("OPENMP", False),                      # mxc runs its own thread pool
        ("SSE", "sse" in cpu),
        ("F16C", "f16c" in cpu),
        ("JEMALLOC", False),
        ("BLAS_OPEN", "BLAS_INFO=open" in config),
        ("BLAS_ATLAS", "BLAS_INFO=atlas" in config),
        ("BLAS_MKL", mkl),
        ("BLAS_APPLE", "BLAS_INFO=accelerate" in config),
        ("LAPACK", "LAPACK is enabled" in config),
        ("MKLDNN", torch.backends.mkldnn.is_available()),
        ("OPENCV", importlib.util.find_spec("cv2") is not None),
        ("CAFFE", False),
        ("PROFILER", profiler),
        ("DIST_KVSTORE", dist_ok),
        ("CXX14", False),
        ("INT64_TENSOR_SIZE", True),            # kernels index with 64-bit integers
        ("SIGNAL_HANDLER", False),
        ("DEBUG", False),
        ("TVM_OP", False),
        # mxc's own
        ("LLVM", importlib.util.find_spec("llvmlite") is not None),
        ("TRITON", triton),
        ("AVX512", "avx512f" in cpu),
        ("BF16", "avx512bf16" in cpu or (cuda and torch.cuda.is_bf16_supported())),
    ]


def feature_list() -> list[Feature]:
    """Every feature this build knows, enabled or not."""
    return [Feature(n, e) for n, e in _detect()]


class Features(collections.OrderedDict):
    """An ordered dict of feature name -> :class:`Feature` (one instance per process, as
    MXNet's)."""

    instance = None

    def __new__(cls):
        if cls.instance is None:
            cls.instance = super().__new__(cls)
            super(Features, cls.instance).__init__([(f.name, f) for f in feature_list()])
        return cls.instance

    def __init__(self):  # filled once, in __new__
        pass

    def __repr__(self):
        return str(list(self.values()))

    def is_enabled(self, feature_name: str) -> bool:
        """True if the feature is enabled; RuntimeError (as MXNet) for an unknown name."""
        name = feature_name.upper()
        if name not in self:
            raise UnknownFeatureError(f"Feature '{name}' is unknown, known features are: "
                                 f"{list(self.keys())}")
        return self[name].enabled
