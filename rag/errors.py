"""Errors that carry a message a user can act on.

Every error raised across a package boundary is a `BitragError`: adapters show `str(error)` to the user as is,
so messages say what went wrong and what to do, and never contain secrets.
"""


class BitragError(Exception):
    """Base class: the message is safe and useful to show to an end user."""


class ConfigError(BitragError):
    """A setting is missing or has a wrong value; the message names the environment variable."""


class InvalidTenantError(BitragError):
    """A tenant id that could not be used safely in a filter expression."""


class ParseError(BitragError):
    """A file could not be turned into text; the message says why and what to do."""


class UnsupportedFileError(ParseError):
    """The file type is not one bitrag can read."""


class FetchError(BitragError):
    """A URL could not be fetched for ingestion (refused, too large, wrong type, unreachable)."""


class StoreUnavailableError(BitragError):
    """The vector store (Milvus) could not be reached or answered with an error."""


class StoreInUseError(StoreUnavailableError):
    """Milvus Lite's database file is held by another process: waiting or retrying does not help."""


class ModelMismatchError(BitragError):
    """The collection was built with another embedding model than the configured one."""


class LLMError(BitragError):
    """The language model endpoint failed in a way retries did not fix."""


class DocumentNotFoundError(BitragError):
    """`forget` named no document, or more than one."""


class NotAllowedError(BitragError):
    """The person may not do this here (change someone else's document, use an admin command, an unchecked
    conversation); the message says who can."""


class BusyError(BitragError):
    """More questions are waiting than `ASK_QUEUE_LIMIT` allows: this one is refused at once, not queued."""
