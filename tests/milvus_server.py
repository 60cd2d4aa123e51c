"""A real Milvus standalone server (PyPI `milvus==2.3.5`) on 127.0.0.1, for integration tests and benchmarks.

The package ships the full server binary (embedded etcd, local storage, rocksmq). Every component's ip must be
pinned to 127.0.0.1, otherwise the components advertise the machine's external address and dial it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


@contextlib.contextmanager
def milvus_server(data_dir: Path, start_timeout_s: float = 180, port: int | None = None,
                  config: dict[str, object] | None = None) -> Iterator[str]:
    """Start a server whose data lives in `data_dir`, yield its URI, stop it. Ports are picked free, except the
    client port when `port` is given (to restart a stopped server where its clients expect it). `config` sets
    further milvus.yaml keys (e.g. `common.security.authorizationEnabled`)."""
    from milvus import MilvusServer, MilvusServerConfig

    server = MilvusServer(MilvusServerConfig(data_dir=str(data_dir)), wait_for_started=False)
    for component in COMPONENTS:
        server.config.set(f"{component}.ip", "127.0.0.1")
    server.config.set("common.session.ttl", 5)  # a restart waits for the old session's lease (30 s by default)
    if port is not None:
        # Written into milvus.yaml directly: the package's own pre-bind check of a fixed port fails while the old
        # server's socket is in TIME_WAIT, and Milvus itself binds with SO_REUSEADDR.
        server.config.set("proxy.port", port)
    for key, value in (config or {}).items():
        server.config.set(key, value)
    server.start()
    try:
        server.wait_started(timeout=int(start_timeout_s * 1000))
        yield f"http://127.0.0.1:{port or server.listen_port}"
    finally:
        server.stop()


def server_pid(uri: str) -> int | None:
    """The pid of the server process listening on `uri`'s port (for RSS readings in benchmarks)."""
    import psutil

    port = int(uri.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.pid
    return None
