# licmon-offline/influxdb: Debian's InfluxDB server, version 1.x (Debian ships no 2.x); the
# offline stack's licmon writes to it with InfluxDB version 1 (deploy/offline/licmon.yaml).
# wget: the health check (GET /ping).
ARG SUITE=bookworm
FROM licmon-offline/debian:${SUITE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends influxdb influxdb-client wget \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o influxdb -g influxdb /var/lib/influxdb
USER influxdb
EXPOSE 8086
CMD ["influxd", "-config", "/etc/influxdb/influxdb.conf"]
