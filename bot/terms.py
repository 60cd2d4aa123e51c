"""The lower layers' names that chat adapters use, re-exported so that adapters import `bot/` alone.

The dependency rule (adapters → bot core → rag; ingest → rag) is checked by tests/test_import_contract.py: an
adapter that needs something new from `rag/` or `ingest/` gets it through here, where the whole surface the
adapters depend on can be read in one place.
"""

from ingest.fetch import is_url
from ingest.formats import kind_of
from ingest.names import safe_name
from rag.embed import Embedder
from rag.errors import BitragError, ConfigError, FetchError, NotAllowedError, ParseError
from rag.models import DocumentParser, FileResult, Progress, SourceFile, Turn, last_turns

__all__ = ["BitragError", "ConfigError", "DocumentParser", "Embedder", "FetchError", "FileResult", "NotAllowedError",
           "ParseError", "Progress", "SourceFile", "Turn", "is_url", "kind_of", "last_turns", "safe_name"]
