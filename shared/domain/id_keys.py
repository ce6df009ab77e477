"""Ids inside keys that cannot take them whole: ASCII-only keys and size-bounded table keys.

An id is 1 to 256 characters of any printable Unicode. Most places carry it as it is (JSON bodies,
SQS attributes, Stripe metadata), but two kinds of key cannot:

- an HTTP header, such as Stripe's `Idempotency-Key`, takes ASCII only (the SDK cannot even send
  other characters; it fails with a connection error) — `ascii_key_part`;
- a DynamoDB sort key (an index's included) holds at most 1024 bytes, and 256 four-byte characters
  are already 1024 — `bounded_key_part`.

Both keep a short, plain id as it is and otherwise put a SHA-256 digest of the whole id behind a
readable prefix, so the result is stable, collision-resistant and still recognisable in a log.
Each is injective: a kept id can never look like a digested one (see each function).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

DIGEST_HEX_CHARS = 32  # 128 bits of SHA-256

# Characters an ASCII key part keeps as they are: no ':' (separates key parts) and no '~'
# (marks a digest), so a kept part never looks like a digested one.
_ASCII_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")
_ASCII_PLAIN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
ASCII_PART_MAX = 96
_ASCII_PREFIX_MAX = 40

# A table key part stays whole up to this many UTF-8 bytes; a digested one is always longer
# (its prefix alone is more than this), so the two never meet. Two parts and a timestamp still
# fit a 1024-byte sort key: 2 * (420 + 1 + 32) + 30 < 1024.
TABLE_PART_MAX_BYTES = 400
_TABLE_PREFIX_MAX_BYTES = 420


def digest(text: str) -> str:
    """32 hex digits of the SHA-256 of `text` (UTF-8; any str, even one holding a lone surrogate)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_HEX_CHARS]


def ascii_key_part(text: str) -> str:
    """`text` when it is at most 96 characters of `[A-Za-z0-9_.-]`; else its readable ASCII prefix
    (accents dropped: `inv_Ω_ünïcødé` reads `inv__unicde`), `~` and the digest of the whole text."""
    if len(text) <= ASCII_PART_MAX and _ASCII_PLAIN.fullmatch(text):
        return text
    readable = "".join(c for c in unicodedata.normalize("NFKD", text) if c in _ASCII_PLAIN_CHARS)
    return f"{readable[:_ASCII_PREFIX_MAX]}~{digest(text)}"


def bounded_key_part(text: str) -> str:
    """`text` when its UTF-8 form has at most 400 bytes; else its first 420 bytes (whole
    characters, so 417 to 420), `~` and the digest of the whole text — always over 400 bytes."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= TABLE_PART_MAX_BYTES:
        return text
    prefix = encoded[:_TABLE_PREFIX_MAX_BYTES].decode("utf-8", "ignore")  # drops a cut character
    return f"{prefix}~{digest(text)}"
