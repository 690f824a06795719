"""The exception hierarchy of stratacache, declared once.

Every exception is a :class:`StrataCacheError` carrying ``.code`` — the same stable code the npm package
puts on ``err.code`` — and also subclasses the builtin that fits, so existing ``except ValueError`` /
``except TypeError`` / ``except TimeoutError`` / ``except ConnectionError`` clauses keep working.
The native module maps core errors to these classes through :func:`_from_code` only.
"""

from __future__ import annotations

import builtins

__all__ = [
    "StrataCacheError",
    "ConfigError",
    "InvalidKeyError",
    "InvalidArgumentError",
    "SerializationError",
    "ValueTooLargeError",
    "CacheConnectionError",
    "CacheTimeoutError",
    "RedisCommandError",
    "ClosedError",
    "CallbackError",
    "InternalError",
    "NoLoaderError",
]


class StrataCacheError(Exception):
    """Base class of every stratacache error; ``code`` is the stable ``ERR_STRATACACHE_…`` code."""

    code: str = "ERR_STRATACACHE_INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(StrataCacheError, ValueError):
    """Invalid configuration (bad URL, option of the wrong type, unsupported mode)."""

    code = "ERR_STRATACACHE_CONFIG"


class InvalidKeyError(StrataCacheError, ValueError):
    """A key that is not a non-empty string of at most ``max_key_bytes`` bytes."""

    code = "ERR_STRATACACHE_INVALID_KEY"


class InvalidArgumentError(StrataCacheError, ValueError):
    """A bad argument or option (``ttl <= 0``, unknown option name, tags that are not strings…)."""

    code = "ERR_STRATACACHE_INVALID_ARGUMENT"


class SerializationError(StrataCacheError, TypeError):
    """A value that cannot be stored as JSON (NaN, sets, arbitrary objects, cycles, ``None``)."""

    code = "ERR_STRATACACHE_SERIALIZATION"


class ValueTooLargeError(StrataCacheError, ValueError):
    """A value larger than ``max_value_bytes``."""

    code = "ERR_STRATACACHE_VALUE_TOO_LARGE"


class CacheConnectionError(StrataCacheError, builtins.ConnectionError):
    """Redis could not be reached (or the circuit breaker is open)."""

    code = "ERR_STRATACACHE_CONNECTION"


class CacheTimeoutError(StrataCacheError, builtins.TimeoutError):
    """Redis did not answer in time."""

    code = "ERR_STRATACACHE_TIMEOUT"


class RedisCommandError(StrataCacheError):
    """Redis answered with an error."""

    code = "ERR_STRATACACHE_REDIS"


class ClosedError(StrataCacheError):
    """The cache system was shut down (or was created before ``fork()``)."""

    code = "ERR_STRATACACHE_CLOSED"


class CallbackError(StrataCacheError):
    """A user callback failed."""

    code = "ERR_STRATACACHE_CALLBACK"


class InternalError(StrataCacheError):
    """A bug inside stratacache."""

    code = "ERR_STRATACACHE_INTERNAL"


class NoLoaderError(StrataCacheError, ValueError):
    """``read_through.read`` found no registered loader whose pattern matches the key."""

    code = "ERR_STRATACACHE_NO_LOADER"


_BY_CODE: dict[str, type[StrataCacheError]] = {
    cls.code: cls
    for cls in (
        ConfigError,
        InvalidKeyError,
        InvalidArgumentError,
        SerializationError,
        ValueTooLargeError,
        CacheConnectionError,
        CacheTimeoutError,
        RedisCommandError,
        ClosedError,
        CallbackError,
        InternalError,
        NoLoaderError,
    )
}


def _from_code(code: str, message: str) -> StrataCacheError:
    """The exception for a core error code (used by the native module)."""
    return _BY_CODE.get(code, StrataCacheError)(message, code)
