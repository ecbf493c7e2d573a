#!/usr/bin/env bash
# Build the serving image with whichever engine is present: docker (with a running engine), podman, or buildah
# (as root, chroot isolation and the vfs storage driver: what runs on machines without a container engine).
#   scripts/build-image.sh CONTAINERFILE CONTEXT BASE IMAGE
set -euo pipefail
file=$1 context=$2 base=$3 image=$4
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  exec docker build -f "$file" --build-arg "BASE=$base" -t "$image" "$context"
elif command -v podman >/dev/null 2>&1; then
  exec podman build -f "$file" --build-arg "BASE=$base" -t "$image" "$context"
elif command -v buildah >/dev/null 2>&1; then
  exec buildah --storage-driver vfs build --isolation chroot -f "$file" --build-arg "BASE=$base" -t "$image" "$context"
fi
echo "make image needs docker (with a running engine), podman or buildah" >&2
exit 2
