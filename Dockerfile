# One image for beat, workers, Flower and the demo QRS simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LICMON_BEAT_STATE=/var/lib/licmon/beat-schedule

WORKDIR /app
COPY pyproject.toml README.md ./
COPY licmon ./licmon
COPY worker ./worker
COPY tasks ./tasks
RUN pip install ".[flower]" \
 && groupadd --system licmon \
 && useradd --system --gid licmon --home-dir /var/lib/licmon --create-home licmon \
 && install -d -o licmon -g licmon /certs

# Never root: the service only needs to read its config and certificates.
USER licmon
CMD ["celery", "-A", "worker", "worker", "--loglevel=INFO"]
