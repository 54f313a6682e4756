# mypy: disable-error-code="no-untyped-def"
"""Exact arithmetic for the native kernel: 128-bit sums of squares and CPython's floating point.

Sums of squared amounts (millionths) overflow int64, so the kernel keeps Σv² as two 64-bit words
(low, high) modulo 2**128 and forms the std numerator n*Q - S² modulo 2**128 too: that is the
exact integer whenever it is below 2**128 (it is Σ over pairs of (vᵢ - vⱼ)², below 2**127 for
|v| < 2**43 and n < 2**20, the limits `engine` enforces), and `to_float` rounds it to nearest,
ties to even, exactly as CPython's `float(int)`.

The haversine must give the same bits as `enrich.geo.haversine_km_scalar`, which calls the C
library's `pow`, `sin`, `cos` and `asin`. LLVM would turn `pow(x, 2.0)` into `x * x` (which
differs from glibc's `pow` in the last bit about once in a thousand), so the kernel calls the
C library's own functions through symbols of our own name that LLVM does not know.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

_LIBM_FUNCTIONS = {"pow": 2, "sin": 1, "cos": 1, "asin": 1}


def _register_libm() -> None:
    """Point `fraudwatch_<name>` at the C library's `<name>` (the functions CPython calls)."""
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for name in _LIBM_FUNCTIONS:
        address = ctypes.cast(getattr(libm, name), ctypes.c_void_p).value
        llvm.add_symbol(f"fraudwatch_{name}", address)


_register_libm()  # the kernel's cached machine code links to these symbols when loaded


def _codegen(name: str, arity: int) -> Any:
    def codegen(context: Any, builder: Any, sig: Any, values: Any) -> Any:
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * arity)
        insert: Any = cgutils.get_or_insert_function  # untyped in numba
        function = insert(builder.module, fnty, f"fraudwatch_{name}")
        return builder.call(function, values)

    return codegen


def _pow(typingctx: Any, x: Any, y: Any) -> Any:
    return types.float64(types.float64, types.float64), _codegen("pow", 2)


def _unary(name: str) -> Any:
    def typer(typingctx: Any, x: Any) -> Any:
        return types.float64(types.float64), _codegen(name, 1)

    typer.__name__ = f"libm_{name}"
    return typer


# the C library's functions, callable from jitted code (typed as Any: numba types them)
libm_pow: Any = intrinsic(_pow)
libm_sin: Any = intrinsic(_unary("sin"))
libm_cos: Any = intrinsic(_unary("cos"))
libm_asin: Any = intrinsic(_unary("asin"))

EARTH_RADIUS_KM = 6371.0
DEG_TO_RAD = math.pi / 180.0  # CPython's `math.radians` multiplies by this constant
MIN_TRAVEL_SECONDS = 60.0
M32 = np.uint64(0xFFFFFFFF)
U0 = np.uint64(0)
U1 = np.uint64(1)


@numba.njit(cache=True)
def haversine_km(lat1, lon1, lat2, lon2):
    """`haversine_km_scalar`, operation for operation."""
    phi1 = lat1 * DEG_TO_RAD
    phi2 = lat2 * DEG_TO_RAD
    a = libm_pow(libm_sin((phi2 - phi1) / 2), 2.0) + libm_cos(phi1) * libm_cos(phi2) * libm_pow(
        libm_sin((lon2 - lon1) * DEG_TO_RAD / 2), 2.0
    )
    a = min(a, 1.0)
    return 2 * EARTH_RADIUS_KM * libm_asin(math.sqrt(a))


@numba.njit(cache=True)
def speed_kmh(distance_km, seconds):
    """`implied_speed_kmh_scalar` (finite inputs)."""
    elapsed = abs(seconds)
    elapsed = max(elapsed, MIN_TRAVEL_SECONDS)
    return distance_km * 3600.0 / elapsed


@numba.njit(cache=True, inline="always")
def mul_64(a, b):
    """The full product of two unsigned 64-bit words as (low, high)."""
    al, ah = a & M32, a >> np.uint64(32)
    bl, bh = b & M32, b >> np.uint64(32)
    p0, p1, p2, p3 = al * bl, al * bh, ah * bl, ah * bh
    middle = (p0 >> np.uint64(32)) + (p1 & M32) + (p2 & M32)
    low = (p0 & M32) | (middle << np.uint64(32))
    high = p3 + (p1 >> np.uint64(32)) + (p2 >> np.uint64(32)) + (middle >> np.uint64(32))
    return low, high


@numba.njit(cache=True, inline="always")
def square(v):
    """v² of an int64 (not -2**63) as (low, high)."""
    a = np.uint64(-v if v < 0 else v)
    return mul_64(a, a)


@numba.njit(cache=True, inline="always")
def add_square(acc, column, v, sign):
    """acc[column] (low word) and acc[column + 1] (high word) += sign * v², modulo 2**128."""
    low, high = square(v)
    old = np.uint64(acc[column])
    top = np.uint64(acc[column + 1])
    if sign > 0:
        new = old + low
        top = top + high + (U1 if new < old else U0)
    else:
        new = old - low
        top = top - high - (U1 if old < low else U0)
    acc[column] = np.int64(new)
    acc[column + 1] = np.int64(top)


@numba.njit(cache=True)
def to_float(low, high):
    """The unsigned 128-bit integer rounded to the nearest double, ties to even."""
    if high == U0:
        return float(low)
    shift = 0  # leading zeros of `high`
    probe = high
    for step in (32, 16, 8, 4, 2, 1):
        if probe >> np.uint64(64 - step) == U0:
            shift += step
            probe = probe << np.uint64(step)
    if shift == 0:
        mantissa, sticky = high, low != U0
    else:
        mantissa = (high << np.uint64(shift)) | (low >> np.uint64(64 - shift))
        sticky = (low << np.uint64(shift)) != U0
    kept = mantissa >> np.uint64(11)
    rest = mantissa & np.uint64(0x7FF)
    if rest > np.uint64(0x400) or (rest == np.uint64(0x400) and (sticky or (kept & U1) == U1)):
        kept += U1
    return math.ldexp(float(kept), 11 + 64 - shift)


@numba.njit(cache=True)
def sigma(n, s, q_low, q_high):
    """sqrt(float(n*Q - S²) / float(n*(n - 1))) with the numerator exact (see the docstring)."""
    nq_low, carry = mul_64(np.uint64(n), np.uint64(q_low))
    nq_high = carry + np.uint64(n) * np.uint64(q_high)
    ss_low, ss_high = square(s)
    low = nq_low - ss_low
    high = nq_high - ss_high - (U1 if nq_low < ss_low else U0)
    return math.sqrt(to_float(low, high) / float(n * (n - 1)))
