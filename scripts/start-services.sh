#!/usr/bin/env bash
# Start the loopback services the tests use, if they are installed and not yet running.
# InfluxDB is not started here: the test session runs its own private influxd.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
  if command -v redis-server >/dev/null; then
    mkdir -p /tmp/licmon-redis
    # AOF, as in production (docker-compose.yml): queued checks, pending retries, claims and
    # dead letters survive a restart; without it worker and beat warn that they would not.
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly yes \
      --dir /tmp/licmon-redis --logfile /tmp/licmon-redis/redis.log
  else
    echo "start-services: redis-server is not installed; Redis tests will not run" >&2
  fi
fi

if ! port_open 1883; then
  if command -v mosquitto >/dev/null; then
    # Without a config file Mosquitto 2 listens on loopback only and allows anonymous clients.
    mosquitto -d
  else
    echo "start-services: mosquitto is not installed; MQTT tests will not run" >&2
  fi
fi

for _ in $(seq 50); do
  { ! command -v redis-server >/dev/null || port_open 6379; } &&
    { ! command -v mosquitto >/dev/null || port_open 1883; } && exit 0
  sleep 0.1
done
echo "start-services: a service did not come up in 5 s" >&2
exit 0
