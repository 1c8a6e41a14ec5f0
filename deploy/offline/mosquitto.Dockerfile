# licmon-offline/mosquitto: Debian's broker and clients (mosquitto_sub, the health check),
# laid out like eclipse-mosquitto (/mosquitto/{config,data,log}) for docker-compose.yml.
ARG SUITE=bookworm
FROM licmon-offline/debian:${SUITE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto mosquitto-clients \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o 1883 -g 1883 /mosquitto/config /mosquitto/data /mosquitto/log
USER 1883:1883
EXPOSE 1883
CMD ["mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
