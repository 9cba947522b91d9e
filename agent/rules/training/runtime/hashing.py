"""Keras's ``Hashing`` layer: the hash of each value's string (integers as their decimal
digits, as ``tf.as_string``), modulo the bins. Without salt that is TF's
``tf.strings.to_hash_bucket_fast``: FarmHash ``Fingerprint64`` (farmhash's
``farmhashna::Hash64``); with salt, ``tf.strings.to_hash_bucket_strong``: SipHash-2-4 keyed
with the two 64-bit salt words (Keras expands an int salt to ``[salt, salt]``). Both are
written out here on Python ints (every sum and product masked to 64 bits).

Only stdlib, NumPy and torch: copied into converted scripts.
"""

from typing import Any

import numpy as np
import torch
from torch import nn

_M64 = 0xFFFFFFFFFFFFFFFF
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _fetch64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _fetch32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _rotate(v: int, shift: int) -> int:
    return ((v >> shift) | (v << (64 - shift))) & _M64


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _hash_len16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _M64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M64
    b ^= b >> 47
    return (b * mul) & _M64


def _len0to16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = _K2 + n * 2
        a = (_fetch64(s, 0) + _K2) & _M64
        b = _fetch64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & _M64
        d = ((_rotate(a, 25) + b) * mul) & _M64
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        return _hash_len16((n + (_fetch32(s, 0) << 3)) & _M64, _fetch32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _M64) * _K2) & _M64
    return _K2


def _len17to32(s: bytes) -> int:
    n = len(s)
    mul = _K2 + n * 2
    a = (_fetch64(s, 0) * _K1) & _M64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M64
    d = (_fetch64(s, n - 16) * _K2) & _M64
    return _hash_len16((_rotate((a + b) & _M64, 43) + _rotate(c, 30) + d) & _M64,
                       (a + _rotate((b + _K2) & _M64, 18) + c) & _M64, mul)


def _len33to64(s: bytes) -> int:
    n = len(s)
    mul = _K2 + n * 2
    a = (_fetch64(s, 0) * _K2) & _M64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M64
    d = (_fetch64(s, n - 16) * _K2) & _M64
    y = (_rotate((a + b) & _M64, 43) + _rotate(c, 30) + d) & _M64
    z = _hash_len16(y, (a + _rotate((b + _K2) & _M64, 18) + c) & _M64, mul)
    e = (_fetch64(s, 16) * mul) & _M64
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & _M64
    h = ((z + _fetch64(s, n - 24)) * mul) & _M64
    return _hash_len16((_rotate((e + f) & _M64, 43) + _rotate(g, 30) + h) & _M64,
                       (e + _rotate((f + a) & _M64, 18) + g) & _M64, mul)


def _weak32(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = (_fetch64(s, i + k) for k in (0, 8, 16, 24))
    a = (a + w) & _M64
    b = _rotate((b + a + z) & _M64, 21)
    c = a
    a = (a + x + y) & _M64
    b = (b + _rotate(a, 44)) & _M64
    return (a + z) & _M64, (b + c) & _M64


def fingerprint64(s: bytes) -> int:
    """FarmHash Fingerprint64 of ``s`` (TF's ``tf.fingerprint`` / hash buckets)."""
    n = len(s)
    if n <= 16:
        return _len0to16(s)
    if n <= 32:
        return _len17to32(s)
    if n <= 64:
        return _len33to64(s)
    seed = 81
    y = (seed * _K1 + 113) & _M64
    z = (_shift_mix((y * _K2 + 113) & _M64) * _K2) & _M64
    v = (0, 0)
    w = (0, 0)
    x = (seed * _K2 + _fetch64(s, 0)) & _M64
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _M64, 37) * _K1) & _M64
        y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _M64, 42) * _K1) & _M64
        x ^= w[1]
        y = (y + v[0] + _fetch64(s, i + 40)) & _M64
        z = (_rotate((z + w[0]) & _M64, 33) * _K1) & _M64
        v = _weak32(s, i, (v[1] * _K1) & _M64, (x + w[0]) & _M64)
        w = _weak32(s, i + 32, (z + w[1]) & _M64, (y + _fetch64(s, i + 16)) & _M64)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w[0] + ((n - 1) & 63)) & _M64
    v0 = (v[0] + w0) & _M64
    w0 = (w0 + v0) & _M64
    v, w = (v0, v[1]), (w0, w[1])
    x = (_rotate((x + y + v[0] + _fetch64(s, i + 8)) & _M64, 37) * mul) & _M64
    y = (_rotate((y + v[1] + _fetch64(s, i + 48)) & _M64, 42) * mul) & _M64
    x ^= (w[1] * 9) & _M64
    y = (y + v[0] * 9 + _fetch64(s, i + 40)) & _M64
    z = (_rotate((z + w[0]) & _M64, 33) * mul) & _M64
    v = _weak32(s, i, (v[1] * mul) & _M64, (x + w[0]) & _M64)
    w = _weak32(s, i + 32, (z + w[1]) & _M64, (y + _fetch64(s, i + 16)) & _M64)
    z, x = x, z
    return _hash_len16((_hash_len16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _M64,
                       (_hash_len16(v[1], w[1], mul) + x) & _M64, mul)


_SIP_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def _sip_rounds(v: list[int], rounds: int) -> None:
    v0, v1, v2, v3 = v
    for _ in range(rounds):
        v0 = (v0 + v1) & _M64
        v1 = _rotate(v1, 64 - 13) ^ v0
        v0 = _rotate(v0, 32)
        v2 = (v2 + v3) & _M64
        v3 = _rotate(v3, 64 - 16) ^ v2
        v0 = (v0 + v3) & _M64
        v3 = _rotate(v3, 64 - 21) ^ v0
        v2 = (v2 + v1) & _M64
        v1 = _rotate(v1, 64 - 17) ^ v2
        v2 = _rotate(v2, 32)
    v[:] = [v0, v1, v2, v3]


def siphash24(key: tuple[int, int], s: bytes) -> int:
    """SipHash-2-4 of ``s`` keyed with two 64-bit words (TF's ``StrongKeyedHash``, the
    highwayhash SipHash: the key's words as k0 and k1)."""
    k0, k1 = key[0] & _M64, key[1] & _M64
    v = [_SIP_INIT[0] ^ k0, _SIP_INIT[1] ^ k1, _SIP_INIT[2] ^ k0, _SIP_INIT[3] ^ k1]
    n = len(s)
    full = n - n % 8
    for i in range(0, full, 8):
        m = _fetch64(s, i)
        v[3] ^= m
        _sip_rounds(v, 2)
        v[0] ^= m
    m = ((n & 0xFF) << 56) | int.from_bytes(s[full:], "little")  # tail, the length on top
    v[3] ^= m
    _sip_rounds(v, 2)
    v[0] ^= m
    v[2] ^= 0xFF
    _sip_rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def salt_key(salt: Any) -> tuple[int, int]:
    """Keras's ``salt``: an int stands for ``[salt, salt]``, else a pair of ints."""
    if isinstance(salt, (int, np.integer)):
        return int(salt), int(salt)
    first, second = salt
    return int(first), int(second)


class HashingBins(nn.Module):
    """Keras's Hashing(num_bins, mask_value, salt): bin ``fingerprint64(str(v)) % bins`` per
    value, ``siphash24(salt, str(v)) % bins`` with a salt; with a mask value, bin 0 is the
    mask's and the others move up one.
    Takes integer tensors/arrays (hashed as their decimal digits) or strings (nested lists,
    NumPy arrays); returns int64 indices of the input's shape."""

    def __init__(self, num_bins: int, mask_value: Any = None, salt: Any = None) -> None:
        super().__init__()
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.key = None if salt is None else salt_key(salt)

    def forward(self, values: Any) -> torch.Tensor:
        device = values.device if isinstance(values, torch.Tensor) else None
        array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) \
            else np.asarray(values)
        if array.dtype.kind == "f":
            raise TypeError("Hashing of floating-point values is not supported here")
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        out = np.empty(array.shape, dtype=np.int64)
        for index, value in np.ndenumerate(array):
            if masked and value == self.mask_value:
                out[index] = 0
                continue
            if isinstance(value, bytes):
                text = value
            elif array.dtype.kind in "iub":
                text = str(int(value)).encode()
            else:
                text = str(value).encode()
            digest = fingerprint64(text) if self.key is None else siphash24(self.key, text)
            out[index] = digest % bins + (1 if masked else 0)
        return torch.from_numpy(out).to(device) if device is not None else torch.from_numpy(out)
