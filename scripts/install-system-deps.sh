#!/usr/bin/env bash
# Debian packages the tests use and bitrag can use: PostgreSQL (shared registry), Chromium + ChromeDriver (the web
# UI's browser test), Tesseract (OCR), espeak-ng (speech for the audio test), and podman, runc, mmdebstrap and
# slirp4netns (scripts/image-test.sh builds and runs the Docker image with them). Installs only what is missing.
# Without root or apt-get it prints the command to run and exits 0: the tests that need a package then skip,
# unless BITRAG_REQUIRE_SYSTEM_DEPS=1 (set by CI) turns those skips into failures.
set -euo pipefail

declare -A needs=(
    [postgresql]=/usr/lib/postgresql
    [chromium]=/usr/bin/chromium
    [chromium-driver]=/usr/bin/chromedriver
    [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu
    [tesseract-ocr]=/usr/bin/tesseract
    [tesseract-ocr-eng]=/usr/share/tesseract-ocr
    [espeak-ng]=/usr/bin/espeak-ng
    [podman]=/usr/bin/podman
    [runc]=/usr/sbin/runc
    [mmdebstrap]=/usr/bin/mmdebstrap
    [slirp4netns]=/usr/bin/slirp4netns
)
missing=()
for package in "${!needs[@]}"; do
    [[ -e ${needs[$package]} ]] || missing+=("$package")
done
((${#missing[@]})) || exit 0

if ! command -v apt-get >/dev/null; then
    echo "bitrag: some tests need these packages (Debian names): ${missing[*]}" >&2
    exit 0
fi
sudo=()
if ((EUID != 0)); then
    if sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "bitrag: some tests need: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 0
    fi
fi
echo "bitrag: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
