#!/usr/bin/env bash
# Builds qlik-license-monitor:latest (target base) and qlik-license-monitor-flower:latest
# (target flower) from the Dockerfile, as docker-compose.yml's `build:` does.
#
#   deploy/build-images.sh                     what `make images` runs
#   CA_BUNDLE=/path/ca.pem deploy/build-images.sh
#   OFFLINE=1 deploy/build-images.sh           from licmon-offline/python (deploy/offline)
#
# CA_BUNDLE: the CA bundle pip must trust behind a TLS-inspecting proxy. Not given, the one
# this machine's pip already uses is taken (PIP_CERT, else `pip config get global.cert`),
# if any; CA_BUNDLE=none takes none. It reaches pip as a BuildKit secret (mounted for one
# RUN, in no image layer).
# NO_CACHE=1: every step rebuilt (the deploy tests, so the CA bundle given is really used).
# PYTHON_IMAGE: the base image (default python:3.11-slim; licmon-offline/python:<suite>
# with OFFLINE=1). BuildKit is needed for the secret: the first of $DOCKER, docker and
# /usr/bin/docker that has buildx, or that predates 23.0 (Debian's docker.io 20.10 builds
# with BuildKit on its own), builds.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
TAG="${TAG:-latest}"
OFFLINE="${OFFLINE:-}"

ca="${CA_BUNDLE-}"
if [ -z "$ca" ]; then
    ca="${PIP_CERT:-}"
    if [ -z "$ca" ] && command -v pip >/dev/null; then
        ca="$(pip config get global.cert 2>/dev/null || true)"
    fi
    if [ -n "$ca" ]; then echo "images: CA bundle from this machine's pip: $ca"; fi
fi
[ "$ca" = none ] && ca=
if [ -n "$ca" ] && [ ! -r "$ca" ]; then
    echo "images: CA_BUNDLE $ca is not a readable file" >&2
    exit 2
fi

if [ -n "$OFFLINE" ]; then
    # shellcheck disable=SC1091
    suite="${OFFLINE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
    deploy/offline/build.sh
    PYTHON_IMAGE="${PYTHON_IMAGE:-licmon-offline/python:$suite}"
fi
PYTHON_IMAGE="${PYTHON_IMAGE:-python:3.11-slim}"

client=
for candidate in "${DOCKER:-}" docker /usr/bin/docker; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
    if "$candidate" buildx version >/dev/null 2>&1; then
        client="$candidate"
        break
    fi
    version="$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null || true)"
    if [ -n "$version" ] && [ "${version%%.*}" -lt 23 ] 2>/dev/null; then
        client="$candidate"
        break
    fi
done
if [ -z "$client" ]; then
    echo "images: no Docker client with BuildKit (install buildx, or Debian's docker.io)" >&2
    exit 2
fi

secret=()
if [ -n "$ca" ]; then secret=(--secret "id=ca_bundle,src=$ca"); fi
build() {
    local target="$1" image="$2"
    echo "images: building $image (target $target, from $PYTHON_IMAGE)"
    DOCKER_BUILDKIT=1 "$client" build --progress=plain --target "$target" ${NO_CACHE:+--no-cache} \
        --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" ${secret[@]+"${secret[@]}"} \
        -t "$image" . >"${BUILD_LOG:-/dev/stderr}" 2>&1 || {
        echo "images: building $image failed${BUILD_LOG:+ (log: $BUILD_LOG)}" >&2
        exit 1
    }
}
build base "qlik-license-monitor:$TAG"
build flower "qlik-license-monitor-flower:$TAG"
echo "images: qlik-license-monitor:$TAG and qlik-license-monitor-flower:$TAG built"
