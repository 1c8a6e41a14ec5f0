#!/bin/sh
# A Redis Sentinel for deploy/sentinel/docker-compose.sentinel.yml. Sentinel rewrites its
# config file as it learns the group, so it is written here, on the sentinel's own volume,
# at the first start only; the passwords come from the environment, never a command line
# that `ps` or `docker inspect` shows.
#   REDISCLI_AUTH       the data nodes' password (REDIS_PASSWORD)
#   SENTINEL_PASSWORD   the sentinels' own (clients and the other sentinels use it)
set -eu
: "${REDISCLI_AUTH:?set REDIS_PASSWORD in .env}"
: "${SENTINEL_PASSWORD:?set SENTINEL_PASSWORD in .env}"
CONFIG=/data/sentinel.conf
if [ ! -s "$CONFIG" ]; then
    umask 077
    cat > "$CONFIG" <<CONF
port 26379
dir /data
# Compose service names, not container addresses (they change when a container restarts).
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${SENTINEL_NAME:?}
sentinel monitor licmon redis 6379 2
sentinel auth-pass licmon ${REDISCLI_AUTH}
sentinel down-after-milliseconds licmon ${DOWN_AFTER_MS:-5000}
sentinel failover-timeout licmon ${FAILOVER_TIMEOUT_MS:-60000}
sentinel parallel-syncs licmon 1
requirepass ${SENTINEL_PASSWORD}
sentinel sentinel-pass ${SENTINEL_PASSWORD}
CONF
fi
exec redis-server "$CONFIG" --sentinel
