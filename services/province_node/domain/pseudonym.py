"""Pseudonymous identifiers for people: a keyed hash, stable within one province, not reversible.

The key is the province's own secret, so the same citizen gets unrelated identifiers in two provinces
and nobody without the key can test a guess (an ID number has too few possibilities for a plain hash).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_NON_DIGIT = re.compile(r"\D")


def pseudonym(secret: bytes, *, id_number: str | None, phone: str | None, name: str | None) -> str:
    """32 hex digits identifying a person within this province, derived from their strongest id."""
    if id_number:
        basis = "id:" + id_number.strip().upper()
    elif phone:
        basis = "phone:" + _NON_DIGIT.sub("", phone)[-11:]
    elif name:
        basis = "name:" + name.strip()
    else:
        # Anonymous requests (a hotline caller who gives no details) are unlinkable by design.
        basis = "anonymous:" + secrets.token_hex(16)
    return hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()[:32]
