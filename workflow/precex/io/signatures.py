"""Ed25519 signatures for the sign-off log: each clinician signs their own decisions.

A user's signing key is derived from their password with argon2id and a random salt kept in the
users file (precex.review_app.users), so nothing secret is stored: the users file holds the
public key only, anyone can verify a signature with it, and only someone who knows the
password can make one. A reader who can write the log but does not know a clinician's password
cannot add, alter or reorder a decision under that clinician's name.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

# argon2id at the parameters argon2-cffi recommends for password hashing (RFC 9106's second
# recommended option): 64 MiB, 3 passes, 4 lanes. The 32-byte result is the Ed25519 seed.
_TIME_COST, _MEMORY_KIB, _LANES = 3, 64 * 1024, 4


def new_salt() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def signing_key(password: str, salt: str) -> Ed25519PrivateKey:
    """The user's Ed25519 key: argon2id(password, salt) as its seed."""
    from argon2.low_level import Type, hash_secret_raw  # only where a key is made

    seed = hash_secret_raw(password.encode("utf-8"), base64.b64decode(salt), _TIME_COST,
                           _MEMORY_KIB, _LANES, 32, Type.ID)
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(key: Ed25519PrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode("utf-8"))).decode("ascii")


def verify(public_key: str, message: str, signature: str) -> bool:
    """Whether `signature` is the key's signature of `message` (False for anything damaged)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message.encode("utf-8"))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
