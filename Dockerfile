# syntax=docker/dockerfile:1

# Build the package into a virtual environment; the source tree stays in this stage.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin studyroom
COPY --from=build /opt/venv /opt/venv
USER studyroom
# The embedded SQLite default (./studyroom.db) lands here when no database URL is given.
WORKDIR /home/studyroom
EXPOSE 8000
# The slim image has no curl; the standard library is enough for a liveness probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2); sys.exit(0 if r.status == 200 else 1)"]
# uvicorn only trusts X-Forwarded-* from these addresses; the proxy in front sets them.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["studyroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
