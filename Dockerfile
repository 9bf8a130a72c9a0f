# Production image: gunicorn serving the portal, as a non-root user.
# Stage 1 fetches the front-end packages from npm; stage 2 installs the Python packages with the
# same set-up script the README's commands and CI use, then copies only what runs.

FROM node:20-bookworm-slim AS frontend
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && mkdir -p static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_ENV=production FLASK_APP=wsgi
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 portal
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
COPY scripts/setup.sh scripts/setup.sh
RUN SKIP_FRONTEND=1 scripts/setup.sh
COPY --from=frontend /build/static/vendor static/vendor
COPY portal portal
COPY templates templates
COPY static/css static/css
COPY migrations migrations
COPY wsgi.py gunicorn.conf.py scripts/docker-entrypoint.sh ./
RUN mkdir -p instance && chown portal:portal instance
USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD [".venv/bin/gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
