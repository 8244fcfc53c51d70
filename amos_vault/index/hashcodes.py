"""Content hashes (`chunks.content_hash`: 12 bytes, written as 24 hex digits) as the vector
sidecar keeps them: 12 bytes each in memory ("S12"), hex text in its files ("S32").

Bytes take 20 bytes less a chunk than the text (20 MB at a million chunks). numpy's "S12"
drops trailing zero bytes when a value is read out, but compares and sorts whole values, so
look-ups are exact (`hash_bytes` gives a hash as such a value reads back).
"""

from __future__ import annotations

import numpy as np

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def hash_bytes(content_hash: str) -> bytes:
    """A hash's bytes as an "S12" value reads back (without trailing zero bytes)."""
    try:
        return bytes.fromhex(content_hash).rstrip(b"\0")
    except ValueError:  # not a hash this version writes: matches nothing, so it is redone
        return b"\xff" * 13


def are_hashes(hexes: np.ndarray) -> bool:
    """Whether every value is 24 lowercase hex digits (what `content_hash` writes)."""
    digits = np.frombuffer(np.asarray(hexes).astype("S32").tobytes(), np.uint8).reshape(-1, 32)
    hexdigit = ((digits >= ord("0")) & (digits <= ord("9"))) | (
        (digits >= ord("a")) & (digits <= ord("f"))
    )
    return bool(hexdigit[:, :24].all() and (digits[:, 24:] == 0).all())


def hashes_as_bytes(hexes: np.ndarray) -> np.ndarray:
    """Hex hashes (a file's "S32" column) as "S12" bytes."""
    digits = np.frombuffer(np.asarray(hexes).astype("S24").tobytes(), np.uint8).reshape(-1, 24)
    values = np.where(digits >= ord("a"), digits - (ord("a") - 10), digits - ord("0"))
    raw = (values[:, 0::2] << 4 | values[:, 1::2]).astype(np.uint8)
    return np.frombuffer(raw.tobytes(), "S12").copy()


def hashes_as_hex(raw: np.ndarray) -> np.ndarray:
    """ "S12" hashes as the hex text files hold ("S32")."""
    values = np.frombuffer(np.asarray(raw, "S12").tobytes(), np.uint8).reshape(-1, 12)
    digits = np.empty((len(values), 24), np.uint8)
    digits[:, 0::2] = _HEX_DIGITS[values >> 4]
    digits[:, 1::2] = _HEX_DIGITS[values & 15]
    return np.frombuffer(digits.tobytes(), "S24").astype("S32")
