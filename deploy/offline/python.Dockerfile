# licmon-offline/python: Debian's python3 in a virtual environment on PATH, so the project's
# Dockerfile (`pip install`) works on it as on an upstream python image.
ARG SUITE=bookworm
FROM licmon-offline/debian:${SUITE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
CMD ["python3"]
