"""The one place pymilvus is imported from.

pymilvus reads `MILVUS_URI` from the environment when it is first imported (for its default ORM connection) and
raises on anything but a network URL, while bitrag's `MILVUS_URI` is usually a Milvus Lite file path. The first
import therefore happens with a file-path value hidden from it.
"""

from __future__ import annotations

import os
from types import ModuleType

from rag.settings import NETWORK_SCHEMES


def _import_pymilvus() -> ModuleType:
    value = os.environ.get("MILVUS_URI")
    hide = value is not None and not value.startswith(NETWORK_SCHEMES)
    if hide:
        del os.environ["MILVUS_URI"]
    try:
        import pymilvus
    finally:
        if hide:
            os.environ["MILVUS_URI"] = value  # type: ignore[assignment]
    return pymilvus


pymilvus = _import_pymilvus()
MilvusClient = pymilvus.MilvusClient
DataType = pymilvus.DataType
Function = pymilvus.Function
FunctionType = pymilvus.FunctionType
