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
CMD ["gatebot", "run"]
