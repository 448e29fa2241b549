#!/usr/bin/env bash
# Set up photobrain on a Debian/Ubuntu machine: system tools through apt, the
# Python package and its dependencies in ./.venv.  Safe to run again.
#   scripts/setup.sh          photobrain itself (exiftool, exiv2, python venv)
#   scripts/setup.sh --test   also what the test suite needs (digiKam, darktable, Xvfb, pytest, ruff, mypy)
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
[ "$with_tests" = 1 ] && packages+=(digikam darktable xvfb xauth sqlite3)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
extras=""
[ "$with_tests" = 1 ] && extras="[test]"
echo "setup: installing photobrain$extras into .venv (torch is large: this takes a while the first time)" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
