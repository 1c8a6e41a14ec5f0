#!/bin/sh
# Refuse to deploy with deploy/example.env's placeholders or weak secrets.
#
#   deploy/check-env.sh .env     check a file (what `make check-env` runs)
#   deploy/check-env.sh          check the environment (docker-compose.yml's `preflight`
#                                service, which every other service waits for)
#
# Names the variables at fault, never their values. Exit 0 when every secret is usable.
set -u

SECRETS="INFLUXDB_PASSWORD INFLUXDB_TOKEN FLOWER_PASSWORD REDIS_PASSWORD MQTT_PASSWORD"
# These go into URLs (redis://:password@redis) and mosquitto's user:password file as they
# are: letters, digits and - . _ ~ only, so nothing needs escaping.
URL_SAFE="REDIS_PASSWORD MQTT_PASSWORD MQTT_USERNAME"
MIN_LENGTH=16

if [ "$#" -gt 0 ]; then
    if [ ! -f "$1" ]; then
        echo "check-env: $1 is not a file (copy deploy/example.env to .env first)" >&2
        exit 2
    fi
    # Read KEY=value lines (compose's .env syntax, quotes removed) without executing them.
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in '' | '#'*) continue ;; esac
        key="${line%%=*}"
        value="${line#*=}"
        case "$value" in
            \"*\") value="${value#\"}"; value="${value%\"}" ;;
            \'*\') value="${value#\'}"; value="${value%\'}" ;;
        esac
        # Only the variables checked here: an .env line must not change PATH for this script.
        case " $SECRETS $URL_SAFE " in *" $key "*) export "$key=$value" ;; esac
    done < "$1"
fi

failed=0
refuse() {
    echo "check-env: $1" >&2
    failed=1
}

for name in $SECRETS; do
    eval "value=\${$name-}"
    lowered=$(printf '%s' "$value" | tr 'A-Z' 'a-z')
    case "$lowered" in
        '') refuse "$name is not set" ;;
        *change-me* | *changeme* | *change_me* | *placeholder* | *example*)
            refuse "$name still holds a placeholder from deploy/example.env" ;;
        *)
            if [ "${#value}" -lt "$MIN_LENGTH" ]; then
                refuse "$name is shorter than $MIN_LENGTH characters"
            fi
            ;;
    esac
done
for name in $URL_SAFE; do
    eval "value=\${$name-}"
    case "$value" in
        *[!A-Za-z0-9._~-]*) refuse "$name may hold only letters, digits and - . _ ~" ;;
    esac
done

if [ "$failed" -ne 0 ]; then
    echo "check-env: refused; generate secrets with: openssl rand -hex 24" >&2
    exit 1
fi
echo "check-env: OK"
