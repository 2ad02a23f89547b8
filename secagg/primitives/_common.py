"""What the primitives share: the bytes check and the scaffolding of the immutable key objects."""

from __future__ import annotations

from typing import Any

from secagg.errors import InvalidKey
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource


def as_bytes(name: str, value: object) -> bytes:
    """Return ``value`` as ``bytes``; TypeError naming ``name`` if it is not bytes-like."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


class KeyHolder:
    """A pyca private key and its raw public key, immutable; subclasses name the algorithm.

    Subclasses set ``_KEY_CLASS`` (the pyca private-key class), ``_ALGORITHM``
    (its name in messages) and ``_PRIVATE_SIZE``.
    """

    __slots__ = ("_private", "_public")
    _KEY_CLASS: Any = None
    _ALGORITHM = ""
    _PRIVATE_SIZE = 32

    def __init__(self, private: Any) -> None:
        if not isinstance(private, self._KEY_CLASS):
            raise TypeError(f"private must be an {self._KEY_CLASS.__name__}, got {type(private).__name__}")
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "_public", private.public_key().public_bytes_raw())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public={self._public.hex()})"

    @classmethod
    def generate(cls, *, random: RandomSource = DEFAULT_RANDOM):
        """Make a key from ``_PRIVATE_SIZE`` bytes of ``random``.

        Args:
            random: the randomness source (the OS CSPRNG by default).

        Returns:
            A new key.

        Raises:
            InvalidKey: if ``random`` returns another number of bytes.
        """
        return cls.from_private_bytes(random.token_bytes(cls._PRIVATE_SIZE))

    @classmethod
    def from_private_bytes(cls, data: bytes):
        """Load a key from its raw private bytes.

        Args:
            data: ``_PRIVATE_SIZE`` bytes.

        Returns:
            The key.

        Raises:
            TypeError: if ``data`` is not bytes.
            InvalidKey: if ``data`` has the wrong length.
        """
        data = as_bytes("data", data)
        if len(data) != cls._PRIVATE_SIZE:
            raise InvalidKey(f"an {cls._ALGORITHM} private key is {cls._PRIVATE_SIZE} bytes, got {len(data)}")
        return cls(cls._KEY_CLASS.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        """Return the raw private key, exactly as it was loaded (secret: for key storage and tests only)."""
        return self._private.private_bytes_raw()

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public
