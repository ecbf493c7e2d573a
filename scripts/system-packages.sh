#!/usr/bin/env bash
# Debian packages the tests need; installed with apt-get when missing (called by `make test`).
#   chromium, chromium-driver: the browser tests of the serving page and the report (headless)
#   espeak-ng, flite, festival + two voices: the speech synthesizers of the keyword-spotting tests
#   sox: audio inspection in those tests
#   fonts-noto-color-emoji, unicode-data: the emoji photo-like set of the image backbone tests
#   buildah, debootstrap: the serving image test (make image from a Debian base made by debootstrap)
#   postgresql: the shared Optuna study and the MLflow backend store (initdb + pg_ctl in the tests)
#   openjdk-17-jre-headless: Spark (local[2]) in the batch scoring engine tests
#   iproute2: two machines as network namespaces joined by a veth pair (tests/training/test_hosts.py)
set -euo pipefail
PACKAGES="chromium chromium-driver espeak-ng flite sox festival festvox-kallpc16k festvox-kdlpc16k fonts-noto-color-emoji unicode-data buildah debootstrap postgresql openjdk-17-jre-headless iproute2"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs these Debian packages (or your system's equivalents):$missing" >&2
  echo "install them, then run make test again" >&2
  exit 2
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "installing$missing needs root: sudo apt-get install$missing" >&2; exit 2; }
  SUDO="sudo"
fi
echo "installing the Debian packages the tests need:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
