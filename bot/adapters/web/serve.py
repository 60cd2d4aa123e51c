"""Starts the web UI in this process (Streamlit's server on the main thread), beside the runtime's bot core."""

from __future__ import annotations

import atexit
import math
import shutil
from pathlib import Path

from bot.adapters.web.runtime import WebRuntime, install_runtime
from bot.adapters.web.signin import write_secrets

APP = Path(__file__).with_name("app.py")


def streamlit_options(runtime: WebRuntime) -> dict[str, object]:
    settings = runtime.settings
    secrets = {}
    if settings.web_auth != "none":  # st.login reads its provider from a secrets file: a private one of ours
        path = write_secrets(settings)
        atexit.register(shutil.rmtree, path.parent, True)
        secrets = {"secrets.files": [str(path)]}
    return {
        **secrets,
        "server.address": settings.web_address,
        "server.port": settings.web_port,
        "server.headless": True,
        "server.fileWatcherType": "none",  # installed code does not change under a running bot
        "server.runOnSave": False,
        "server.maxUploadSize": math.ceil(settings.max_file_mb),  # MB, like MAX_FILE_MB
        "browser.gatherUsageStats": False,  # no telemetry, and no internet needed
        "logger.hideWelcomeMessage": True,  # ours names the URL (Streamlit's looks up an external IP)
        "client.toolbarMode": "minimal",
    }


def web_url(runtime: WebRuntime) -> str:
    host = runtime.settings.web_address
    return f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{runtime.settings.web_port}"


def serve_web(runtime: WebRuntime) -> None:
    """Serve the web UI until SIGINT/SIGTERM; the caller closes the runtime afterwards."""
    from streamlit.web import bootstrap

    install_runtime(runtime)
    options = streamlit_options(runtime)
    bootstrap.load_config_options(options)
    bootstrap.run(str(APP), False, [], options)
