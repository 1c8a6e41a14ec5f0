#!/bin/sh
# Mosquitto for docker-compose.yml: a password file generated at every start from
# MQTT_USERNAME / MQTT_PASSWORD (never a command-line argument), then the broker.
# MOSQUITTO_RUN (a tmpfs in compose) holds the password file and the options file of the
# health check's mosquitto_sub ($XDG_CONFIG_HOME/mosquitto_sub).
set -eu
run="${MOSQUITTO_RUN:-/mosquitto/run}"
conf="${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
: "${MQTT_USERNAME:?set MQTT_USERNAME in .env}"
: "${MQTT_PASSWORD:?set MQTT_PASSWORD in .env}"
umask 077
# `user:password` lines, hashed in place by mosquitto_passwd -U (printf is a shell
# built-in: the password is on no process's command line).
printf '%s:%s\n' "$MQTT_USERNAME" "$MQTT_PASSWORD" > "$run/passwd"
mosquitto_passwd -U "$run/passwd"
printf -- '-u %s\n-P %s\n' "$MQTT_USERNAME" "$MQTT_PASSWORD" > "$run/mosquitto_sub"
exec mosquitto -c "$conf"
