# One image for web, worker and beat (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    ROUTERHUB_STATE_DIR=/var/lib/routerhub
# Point this at a CPU-only wheel index to keep torch small; the default takes torch from PyPI.
ARG PIP_EXTRA_INDEX_URL=""
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app routerhub && mkdir -p /var/lib/routerhub && chown routerhub /var/lib/routerhub
USER routerhub
EXPOSE 8000
CMD ["gunicorn", "routerhub.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--no-control-socket", \
     "--workers", "2", "--threads", "8", "--timeout", "120", "--config", "python:routerhub.gunicorn_conf"]
