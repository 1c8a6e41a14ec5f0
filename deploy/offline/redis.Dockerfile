# licmon-offline/redis: Debian's redis-server (and redis-cli, for the health check).
ARG SUITE=bookworm
FROM licmon-offline/debian:${SUITE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
