#!/usr/bin/env bash
# README's first command: tag a copy of the bundled samples/, so the checkout stays as it came.
#
#   bash scripts/try-samples.sh [FOLDER] [photobrain tag options...]
#
# FOLDER defaults to ~/photobrain-samples. Photos already there are kept (a second run finds them
# tagged and unchanged); the checkout's samples/ are only read. PHOTOBRAIN names the photobrain
# command to run (default: this checkout's .venv/bin/photobrain).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$HOME/photobrain-samples"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    dest="$1"
    shift
fi
photobrain="${PHOTOBRAIN:-$here/.venv/bin/photobrain}"

mkdir -p "$dest"
copied=0
while IFS= read -r -d '' file; do
    if [ ! -e "$dest/$file" ]; then
        mkdir -p "$dest/$(dirname "$file")"
        cp -p "$here/samples/$file" "$dest/$file"
        copied=$((copied + 1))
    fi
done < <(cd "$here/samples" && find . -type f ! -name '*.xmp' ! -name '*.md' ! -name '.*' -print0)
echo "photobrain: $copied sample photo(s) copied into $dest; tagging them there (samples/ in the checkout stay untouched)" >&2
"$photobrain" tag "$dest" --write sidecar "$@"
echo "next: $photobrain search 'a dog'    (or open $dest in digiKam, darktable or Lightroom)" >&2
