#!/bin/sh
# InfluxDB 1.x (Debian's) for deploy/offline/docker-compose.offline.yml: HTTP authentication
# on, usage reporting off, and on first start the admin user INFLUXDB_USERNAME with
# INFLUXDB_PASSWORD (from .env) and the database `butler`. The password goes to influxd in a
# request body and a wgetrc read from files on a tmpfs, never on a command line.
# The admin user is created only while none exists (InfluxDB allows that one unauthenticated
# query): changing INFLUXDB_PASSWORD later needs `SET PASSWORD` or a new volume.
set -eu
: "${INFLUXDB_PASSWORD:?set INFLUXDB_PASSWORD in .env}"
user="${INFLUXDB_USERNAME:-admin}"
export INFLUXDB_HTTP_AUTH_ENABLED=true INFLUXDB_REPORTING_DISABLED=true
influxd -config /etc/influxdb/influxdb.conf &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT

tries=0
until wget -q -O /dev/null http://127.0.0.1:8086/ping 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "influxdb-start: influxd did not answer /ping" >&2
        exit 1
    fi
    sleep 1
done

# Form fields: % & + are encoded; InfluxQL string: \ and ' escaped.
form() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/&/%26/g' -e 's/+/%2B/g'; }
literal() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
body="${TMPDIR:-/tmp}/influxdb-start.$$"
umask 077
query() {
    wget -q -O /dev/null --post-file="$body" http://127.0.0.1:8086/query 2>/dev/null
    status=$?
    rm -f "$body"
    return "$status"
}
printf 'q=%s' "$(form "CREATE USER \"$user\" WITH PASSWORD '$(literal "$INFLUXDB_PASSWORD")' WITH ALL PRIVILEGES")" >"$body"
if query; then echo "influxdb-start: admin user $user created"; fi
# The admin's credentials reach wget through a wgetrc file (basic auth, sent unasked).
export WGETRC="${TMPDIR:-/tmp}/influxdb-start.wgetrc"
printf 'http_user = %s\nhttp_password = %s\nauth_no_challenge = on\n' \
    "$user" "$INFLUXDB_PASSWORD" >"$WGETRC"
printf 'q=%s' "CREATE DATABASE butler" >"$body"
query || echo "influxdb-start: could not create database butler (licmon creates it on write)" >&2
rm -f "$WGETRC"
unset WGETRC

wait "$pid" || true
# A TERM ends the first wait; wait for influxd to finish writing.
wait "$pid"
