#!/usr/bin/env bash
# Air-gapped images: every image the compose stack needs, built from Debian packages only.
#
#   deploy/offline/build.sh            # what `make images OFFLINE=1` runs first
#
# 1. debootstrap (minbase) a root file system from the Debian mirror this machine's apt
#    already uses, once, into $LICMON_OFFLINE_CACHE (default .licmon/offline, outside git);
# 2. import it as licmon-offline/debian:<suite>;
# 3. build licmon-offline/{python,redis,mosquitto,influxdb,prometheus}:<suite> from the small
#    Dockerfiles beside this script (apt-get install from the same mirror).
# Never named like an upstream image, so they shadow none. Rebuilt only when missing
# (FORCE=1 rebuilds all, the root file system included).
#
# Overrides: OFFLINE_MIRROR (default: the first Debian URI in /etc/apt/sources*),
# OFFLINE_SECURITY_MIRROR (default: the sources' debian-security URI, if any),
# OFFLINE_SUITE (default: this machine's VERSION_CODENAME), DOCKER (default: docker).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
DOCKER="${DOCKER:-docker}"
cache="${LICMON_OFFLINE_CACHE:-$repo/.licmon/offline}"
FORCE="${FORCE:-}"

# All URIs of the machine's apt sources, one-line (sources.list) and deb822 (*.sources).
apt_uris() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
}
# shellcheck disable=SC1091
suite="${OFFLINE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
mirror="${OFFLINE_MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -n 1 || true)}"
security="${OFFLINE_SECURITY_MIRROR-$(apt_uris | grep -E '/debian-security/?$' | head -n 1 || true)}"
if [ -z "$mirror" ]; then
    echo "offline: no Debian mirror found in /etc/apt/sources*; set OFFLINE_MIRROR" >&2
    exit 2
fi
mirror="${mirror%/}"
security="${security%/}"

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

base="licmon-offline/debian:$suite"
rootfs_tar="$cache/debian-$suite-rootfs.tar"
if [ -n "$FORCE" ] || ! have_image "$base"; then
    if [ -n "$FORCE" ] || [ ! -s "$rootfs_tar" ]; then
        command -v debootstrap >/dev/null || {
            echo "offline: debootstrap is missing (apt-get install debootstrap)" >&2
            exit 2
        }
        echo "offline: debootstrap $suite from $mirror"
        mkdir -p "$cache"
        work="$(mktemp -d "$cache/rootfs.XXXXXX")"
        trap 'rm -rf "$work"' EXIT
        debootstrap --variant=minbase "$suite" "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
            tail -n 20 "$cache/debootstrap.log" >&2
            exit 1
        }
        # The image's apt reads the same mirror (and its security archive, if the host has one).
        {
            echo "deb $mirror $suite main"
            echo "deb $mirror $suite-updates main"
            if [ -n "$security" ]; then echo "deb $security $suite-security main"; fi
        } >"$work/etc/apt/sources.list"
        # Small images: no docs, man pages or apt lists kept.
        cat >"$work/etc/dpkg/dpkg.cfg.d/01-licmon-nodoc" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
            >"$work/etc/apt/apt.conf.d/01-licmon-norecommends"
        rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/*
        tar --numeric-owner -C "$work" -cf "$rootfs_tar.tmp" .
        mv "$rootfs_tar.tmp" "$rootfs_tar"
        rm -rf "$work"
        trap - EXIT
    fi
    echo "offline: importing $rootfs_tar as $base"
    "$DOCKER" import --change 'CMD ["bash"]' "$rootfs_tar" "$base" >/dev/null
fi

base_id="$("$DOCKER" image inspect --format '{{.Id}}' "$base")"
for name in python redis mosquitto influxdb prometheus; do
    image="licmon-offline/$name:$suite"
    # Rebuilt when its Dockerfile or the base changed (the recipe label), or with FORCE=1.
    recipe="$({ cat "$here/$name.Dockerfile"; echo "$base_id"; } | sha256sum | cut -c1-16)"
    have="$("$DOCKER" image inspect --format '{{index .Config.Labels "licmon.recipe"}}' \
        "$image" 2>/dev/null || true)"
    if [ -z "$FORCE" ] && [ "$have" = "$recipe" ]; then
        echo "offline: $image is up to date"
        continue
    fi
    echo "offline: building $image"
    # The classic builder is enough here: these images fetch only from the Debian mirror
    # (signed by the archive keys), no secret involved. The host's network: the mirror is
    # reached as apt on this machine reaches it.
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --network host --build-arg "SUITE=$suite" \
        --label "licmon.recipe=$recipe" -t "$image" -f "$here/$name.Dockerfile" "$here" \
        2> >(grep -v -e DEPRECATED -e 'BuildKit is currently disabled' \
            -e 'environment-variable' -e '^ *$' >&2) >/dev/null
done
echo "offline: images ready (licmon-offline/*:$suite)"
