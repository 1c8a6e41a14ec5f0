#!/bin/sh
# Redis for docker-compose.yml: its password comes from the environment (REDISCLI_AUTH,
# which redis-cli also reads, so the health check authenticates) and reaches redis-server
# through its standard input, never a command line that `ps` or `docker inspect` shows.
# Arguments are passed on to redis-server.
set -eu
: "${REDISCLI_AUTH:?set REDIS_PASSWORD in .env}"
# masterauth: the same password, for a node that replicates (deploy/sentinel/: the replica,
# and a master that comes back after a failover as the new master's replica).
exec redis-server - "$@" <<CONFIG
requirepass ${REDISCLI_AUTH}
masterauth ${REDISCLI_AUTH}
CONFIG
