#!/usr/bin/env bash
# Set up photobrain on a Debian/Ubuntu machine: system tools through apt, the
# Python package and its dependencies in ./.venv.  Safe to run again.
#   scripts/setup.sh          photobrain itself (exiftool, exiv2, python venv)
#   scripts/setup.sh --test   also what the test suite needs (digiKam, darktable, Thunar, Nemo, Xvfb, Chromium,
#                             GLib's gio and python3-gi, Lua 5.1, pytest, ruff, mypy, lupa)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

python=${PYTHON:-python3}
packages=(libimage-exiftool-perl exiv2)
# Debian's own python3 needs python3-venv for `python3 -m venv`; other Pythons bring it along
"$python" -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)
[ "$with_tests" = 1 ] && packages+=(digikam darktable xvfb xauth sqlite3 chromium chromium-driver
                                     thunar nemo desktop-file-utils libglib2.0-bin python3-gi dbus-daemon
                                     lua5.1)  # luac5.1 -p: the Lightroom plug-in's syntax, as Lightroom's Lua reads it
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# shellcheck source=scripts/apt_get.sh
source scripts/apt_get.sh  # apt_get: apt-get that waits while another apt holds the lock

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt-get" >&2
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
extras=""
[ "$with_tests" = 1 ] && extras="[test]"
# torch's CPU build: photobrain runs on the CPU, and the default build brings CUDA and triton
# (measured: a 5.7 GB venv, 4.1 GB of it GPU libraries; with the CPU build about 1.5 GB).
# PyTorch publishes it on its own index for Linux; elsewhere (or when that index cannot be
# reached) the default build is installed below. PHOTOBRAIN_TORCH=default skips this.
if ! .venv/bin/python -c "import torch" 2>/dev/null && [ "$(uname -s)" = Linux ] \
        && [ "${PHOTOBRAIN_TORCH:-cpu}" = cpu ]; then
    echo "setup: installing torch's CPU build (about 200 MB to download) from download.pytorch.org" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check --timeout 20 --retries 1 \
        --index-url https://download.pytorch.org/whl/cpu torch torchvision 2>/dev/null \
        || echo "setup: the CPU build is not reachable here; installing the default torch build instead" >&2
    # a mirror can offer a CPU torch without its matching torchvision (measured here: torch 2.13.0+cpu with
    # torchvision 0.28.0 fails with "operator torchvision::nms does not exist"): keep the pair only if it imports
    if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
        echo "setup: that torch build does not work with its torchvision here; installing the default build instead" >&2
        .venv/bin/python -m pip uninstall -q -y torch torchvision 2>/dev/null || true
    fi
fi
echo "setup: installing photobrain$extras into .venv (torch is large: this takes a while the first time)" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
