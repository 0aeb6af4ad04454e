# syntax=docker/dockerfile:1
#
# knargo function images: one recipe, three images.
#
#   docker build --build-arg FUNCTION=webhook  -t registry.example.com/knargo-webhook:0.1.0 .
#   docker build --build-arg FUNCTION=generate -t registry.example.com/knargo-generate:0.1.0 .
#   docker build --build-arg FUNCTION=report   -t registry.example.com/knargo-report:0.1.0 .
#
# (kaniko, buildah and `docker buildx` read it as it is; no BuildKit-only syntax is used.)
#
# tests/test_image_recipe.py runs this file's own `pip wheel` and `pip install` lines and its
# CMD in a fresh virtualenv, because our build machines have no Docker engine: keep them plain
# POSIX shell, and keep one `pip wheel` RUN in the build stage and one `pip install` RUN in the
# final stage.
#
# The base is pinned to a patch release. To pin it to the byte, append the digest that
# `docker buildx imagetools inspect python:3.12.11-slim-bookworm` prints (`...@sha256:...`) to
# both FROM lines and let Renovate or Dependabot keep it current (docs/deploy.md).

# --- build: the knargo wheel. Pure Python; nothing of this stage but the wheel is kept. -----
FROM python:3.12.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared/ shared/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- final: one function, its own dependencies, nothing else. ---------------------------------
FROM python:3.12.11-slim-bookworm
ARG FUNCTION=webhook

# WORKERS and THREADS are set on purpose: functions-framework defaults to 4 threads per CPU of
# the *node*, whatever the pod's CPU limit. The Knative Services set them again, equal to their
# containerConcurrency. TMPDIR points at the pod's tmpfs so the root filesystem can be
# read-only (gunicorn keeps its worker heartbeat file there).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TMPDIR=/dev/shm \
    PORT=8080 \
    WORKERS=1 \
    THREADS=8

COPY --from=build /dist/ /tmp/dist/
# Only knargo[<function>]: the webhook image has no Kubernetes client. Every dependency ships a
# wheel, so no compiler is needed (the slim base has none); --no-cache-dir keeps pip's cache out.
# DL3013 asks for `name==version`: the argument is this build's own wheel file, version included.
# hadolint ignore=DL3013
RUN set -eu; \
    case "$FUNCTION" in \
      webhook|generate|report) ;; \
      *) echo "FUNCTION must be webhook, generate or report, not '$FUNCTION'" >&2; exit 1 ;; \
    esac; \
    set -- /tmp/dist/knargo-*.whl; \
    pip install --no-cache-dir "$1[$FUNCTION]"; \
    rm -rf /tmp/dist

# A fixed numeric user, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin knargo

# The function shell lives outside the package: copy the one this image runs.
COPY functions/${FUNCTION}/main.py /app/main.py
WORKDIR /app
USER 10001:10001
EXPOSE 8080
CMD ["functions-framework", "--source", "/app/main.py", "--target", "handle"]
