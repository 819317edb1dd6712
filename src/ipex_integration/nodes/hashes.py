"""Hash strings as Nix writes them: SRI (`sha256-<base64>`), Nix base32 and hex, plus placeholder detection.

The lock and the manifest always store SRI; older Nix files write `sha256 = "<nix32>"`, which we accept too.
"""

from __future__ import annotations

import base64
import binascii

from ..errors import ConfigError

SHA256_SIZE = 32
# Nix's own base32 alphabet (no e, o, u, t): see libutil/hash.cc.
NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_NIX32_INDEX = {c: i for i, c in enumerate(NIX32_ALPHABET)}
NIX32_LENGTH = 52  # 256 bits in 5-bit digits
# `lib.fakeHash`, what nixpkgs users write before the first build tells them the real one.
FAKE_HASH = "sha256-" + "A" * 43 + "="
FAKE_SHA256 = "0" * NIX32_LENGTH  # `lib.fakeSha256`


def to_sri(digest: bytes) -> str:
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def nix32_encode(digest: bytes) -> str:
    """Nix base32: the digest read as a little-endian bit string, printed most significant digit first."""
    length = (len(digest) * 8 - 1) // 5 + 1
    out = []
    for n in range(length - 1, -1, -1):
        bit = n * 5
        i, j = divmod(bit, 8)
        c = digest[i] >> j
        if i + 1 < len(digest):
            c |= digest[i + 1] << (8 - j)
        out.append(NIX32_ALPHABET[c & 0x1F])
    return "".join(out)


def nix32_decode(text: str, size: int = SHA256_SIZE) -> bytes:
    out = bytearray(size)
    for n, ch in enumerate(reversed(text)):
        digit = _NIX32_INDEX.get(ch)
        if digit is None:
            raise ValueError(f"invalid Nix base32 character {ch!r}")
        bit = n * 5
        i, j = divmod(bit, 8)
        out[i] |= (digit << j) & 0xFF
        carry = digit >> (8 - j)
        if i + 1 < size:
            out[i + 1] |= carry
        elif carry:
            raise ValueError("Nix base32 value does not fit")
    return bytes(out)


def is_placeholder(text: str | None) -> bool:
    """True for hashes nobody computed: missing, empty, `lib.fakeHash`, `lib.fakeSha256`, all-A or all-0 bodies."""
    if text is None:
        return True
    body = text.strip()
    for prefix in ("sha256-", "sha256:"):
        if body.startswith(prefix):
            body = body[len(prefix):]
    body = body.rstrip("=")
    return body == "" or set(body) <= {"A"} or set(body) <= {"0"}


def parse_hash(text: str, *, where: str = "hash") -> str:
    """Normalise a sha256 given as SRI, `sha256:<nix32|hex|base64>`, bare nix32 or bare hex, to SRI.

    Raises ConfigError naming `where` for anything else (including placeholders: test those first).
    """
    raw = text.strip()
    body = raw
    if raw.startswith("sha256-"):
        body = raw[len("sha256-"):]
        try:
            digest = base64.b64decode(body, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) == SHA256_SIZE:
            return to_sri(digest)
        raise ConfigError(f"{where}: {raw!r} is not a valid SRI sha256 (want sha256- and 44 base64 characters)")
    if raw.startswith("sha256:"):
        body = raw[len("sha256:"):]
    elif "-" in raw or ":" in raw:
        raise ConfigError(f"{where}: {raw!r} uses an unsupported algorithm; only sha256 is accepted",
                          hint="print one with: nix hash path DIR")
    try:
        if len(body) == NIX32_LENGTH:
            return to_sri(nix32_decode(body))
        if len(body) == 2 * SHA256_SIZE:
            return to_sri(bytes.fromhex(body))
        digest = base64.b64decode(body, validate=True)
        if len(digest) == SHA256_SIZE:
            return to_sri(digest)
    except (ValueError, binascii.Error):
        pass
    raise ConfigError(f"{where}: {raw!r} is not a sha256 hash", hint="print one with: nix hash path DIR")
