#!/usr/bin/env bash
# Build the local base image for sandboxed runs (Debian bookworm with python3) without
# pulling from any registry: debootstrap from this machine's own Debian mirror, then
# `docker import`. Usage: scripts/build-base-image.sh [NAME]   (default mlr-python:bookworm)
set -euo pipefail

NAME="${1:-mlr-python:bookworm}"
# numpy and scikit-learn from Debian, so the bundled offline tasks run in the sandbox as they are
PACKAGES="${MLR_IMAGE_PACKAGES:-python3,python3-venv,python3-numpy,python3-sklearn}"
SUITE="${MLR_BASE_SUITE:-bookworm}"

if docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "image $NAME already present"
  exit 0
fi

# The mirror this machine's apt already uses: deb822 `.sources` files first, then the
# one-line format. Only Debian archive entries count (not -security or third parties).
mirror_from_apt() {
  local file uri
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    uri=$(awk '
      /^URIs:/ { uris=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
      /^$/ { if (ok && uris != "") { print uris; exit } uris=""; ok=0 }
      END { if (ok && uris != "") print uris }
    ' suite="$SUITE" "$file" | head -n1)
    if [ -n "$uri" ]; then echo "$uri"; return 0; fi
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    uri=$(awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }
    ' "$file")
    if [ -n "$uri" ]; then echo "$uri"; return 0; fi
  done
  return 1
}

MIRROR="${MLR_DEBIAN_MIRROR:-$(mirror_from_apt || true)}"
if [ -z "$MIRROR" ]; then
  echo "no Debian mirror for '$SUITE' found in /etc/apt/sources.list or /etc/apt/sources.list.d/; set MLR_DEBIAN_MIRROR" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

ROOTFS=$(mktemp -d /tmp/mlr-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS" "$ROOTFS.log"' EXIT

echo "debootstrap $SUITE from $MIRROR (log: $ROOTFS.log)"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1; then
  echo "debootstrap failed; last lines of $ROOTFS.log:" >&2
  tail -n 30 "$ROOTFS.log" >&2
  exit 1
fi

# Make `python` mean python3 and drop apt caches so the image stays small.
[ -e "$ROOTFS/usr/bin/python" ] || ln -s python3 "$ROOTFS/usr/bin/python"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$NAME"
echo "built image $NAME"
