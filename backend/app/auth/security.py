"""Password hashing (argon2 via pwdlib) and the at-rest cipher for ACE GUIDs."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_password_hash = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _password_hash.hash("acehub-timing-parity-placeholder")


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check `password`; with no hash (unknown user) spend the same time and return False."""
    if password_hash is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False
    return _password_hash.verify(password, password_hash)


def token_digest(value: str) -> str:
    """SHA-256 hex of a token id: what the database stores instead of the id."""
    return hashlib.sha256(value.encode()).hexdigest()


class GuidCipher:
    """Encrypts ACE GUIDs at rest with a key derived from `SECRET_KEY` (Fernet, HKDF)."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"acehub ace-guid v1"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, guid: str) -> str:
        return self._fernet.encrypt(guid.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The GUID, or None when it was encrypted under another key (e.g. a rotated secret)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None
