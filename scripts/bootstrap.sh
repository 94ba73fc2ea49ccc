#!/bin/sh
# Create the virtualenv named by $1 and install Glimpse with its test tools.
# On a fresh Debian machine it first installs the system packages it needs.
set -eu
VENV="$1"
PYTHON="${PYTHON:-python3}"

need=""
command -v "$PYTHON" >/dev/null 2>&1 || need="$need python3"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
command -v curl >/dev/null 2>&1 || need="$need curl"
# qemu-img, for the image_conversion import plugin (and the tests that run it).
command -v qemu-img >/dev/null 2>&1 || need="$need qemu-utils"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
    fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"
