"""The native (numba-compiled) in-process online feature engine; see `engine`."""

from fraudwatch.features.online.native import cache  # first: where the jitted code is cached
from fraudwatch.features.online.native.engine import NativeEngine, NativeRangeError

__all__ = ["NativeEngine", "NativeRangeError", "cache"]
