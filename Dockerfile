FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GATEBOT_DB=/data/gatebot.db GATEBOT_HTTP_HOST=0.0.0.0

RUN useradd --create-home --uid 10001 gatebot && mkdir /data && chown gatebot /data
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
COPY rules ./rules
RUN pip install -c constraints.txt . && gatebot rules check

USER gatebot
VOLUME /data
EXPOSE 3000
# /healthz answers 200 while every adapter and the digest scheduler run, 503 otherwise (slim images have no curl)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEBOT_HTTP_PORT', '3000'), timeout=4)"]
CMD ["gatebot", "run"]
