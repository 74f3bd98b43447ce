"""Argon2id password hashing (argon2-cffi).

The parameters are argon2-cffi's profiles, RFC 9106 low-memory by default. ``KEFU_ARGON2_PROFILE`` picks
another one (``RFC_9106_HIGH_MEMORY`` on a server with memory to spare; ``CHEAPEST`` only for the test
suite, which hashes hundreds of passwords). Hashes carry their parameters, so changing the profile keeps
old passwords working and they are re-hashed at the next login.
"""

from __future__ import annotations

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher.from_parameters(
    getattr(profiles, os.environ.get("KEFU_ARGON2_PROFILE", "RFC_9106_LOW_MEMORY"))
)
# Verified against when the user does not exist, so that the answer takes as long as for a real one.
_DUMMY_HASH = _hasher.hash("kefu-no-such-user")

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
