# Beat and workers use the `base` stage; Flower gets its own stage because an installed
# Flower plugs into every `celery` command and would add about 20 MB to each process.
#
# BuildKit is required (the CA bundle below is a build secret): `make images` picks a client
# that has it. PYTHON_IMAGE: any image with Python 3.11+ and pip on PATH; air-gapped sites
# build licmon-offline/python:bookworm from Debian packages (`make images OFFLINE=1`).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Fewer glibc arenas: about 20 MB less per threaded process, no measurable slowdown.
    MALLOC_ARENA_MAX=2 \
    LICMON_BEAT_STATE=/var/lib/licmon/beat-schedule

WORKDIR /app
# constraints.txt: the dependency set the test suite (tests/faults included) proves.
COPY pyproject.toml README.md constraints.txt ./
COPY licmon ./licmon
COPY worker ./worker
COPY tasks ./tasks
# The simulator extra too: docker-compose's `demo` profile runs `licmon qrs-simulator` from
# this stage. The service itself never imports it.
# ca_bundle: the organisation's CA bundle when a TLS-inspecting proxy stands in front of the
# package index (`make images CA_BUNDLE=...`). A build secret is mounted for this one RUN
# only: no layer of the image holds it. Empty when not given.
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && pip install -c constraints.txt ".[simulator]" \
 && groupadd --system licmon \
 && useradd --system --gid licmon --home-dir /var/lib/licmon --create-home licmon \
 && install -d -o licmon -g licmon /certs

# Never root: the service only needs to read its config and certificates.
USER licmon
# `celery -A worker worker` without the rest of celery's command line (worker/__main__.py).
CMD ["python", "-m", "worker", "worker", "--loglevel=INFO"]

FROM base AS flower
USER root
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && pip install -c constraints.txt ".[flower]"
USER licmon
CMD ["celery", "-A", "worker", "flower", "--port=5555"]
