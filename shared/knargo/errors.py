"""The exceptions knargo raises, in one tree.

    KnargoError
    ├── StartupError             configuration or credential files missing or invalid
    ├── ForgeError               a forge API answered with an error
    │   ├── Unauthorized         401/403: the token is wrong or lacks a permission
    │   ├── NotFound             404: repository, commit or file gone
    │   ├── RateLimited          429, or GitHub's 403 with a rate-limit header (retry_after)
    │   └── ForgeUnavailable     5xx, timeouts, connection errors
    └── DeliveryError            handing an event on failed
        ├── PermanentError       retrying cannot help (answered 2xx or 4xx)
        └── TemporaryError       retrying may help (answered 5xx or 429, retry_after)
            └── BrokerUnavailable  the broker did not take a published event

Messages never contain a secret, a token or a request body.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "DeliveryError",
    "ForgeError",
    "ForgeUnavailable",
    "KnargoError",
    "NotFound",
    "PermanentError",
    "RateLimited",
    "StartupError",
    "TemporaryError",
    "Unauthorized",
]


class KnargoError(Exception):
    """The root of knargo's exceptions."""


class StartupError(KnargoError):
    """A function cannot start: the message names the file and key."""


class ForgeError(KnargoError):
    """A forge API answered with an error."""


class Unauthorized(ForgeError):
    pass


class NotFound(ForgeError):
    pass


class RateLimited(ForgeError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForgeUnavailable(ForgeError):
    pass


class DeliveryError(KnargoError):
    """Handing an event on failed."""


class PermanentError(DeliveryError):
    pass


class TemporaryError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerUnavailable(TemporaryError):
    pass
