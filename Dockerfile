# syntax=docker/dockerfile:1
#
# The modelops operator image: `modelops operator` by default; the same image serves
# models (`modelops serve`) and runs retraining Jobs.
#
# Base images are pinned by tag here. Production builds also pin the digest
# (FROM python:3.11-slim-bookworm@sha256:...) and let a bot bump it, so a rebuild
# gets exactly the same base.

# The model formats the image's `modelops serve` loads besides numpy-linear: the extras of
# pyproject.toml (scikit-learn: +10 MB of wheels, +56 MB installed; onnxruntime: +28 MB of
# wheels, +84 MB installed, measured for Python 3.11 on x86_64; see docs/getting-started.md).
# Both are in by default, so every example works with the default image; a smaller image
# for numpy-linear models only: --build-arg MODEL_EXTRAS= (empty). The s3 extra (boto3, for
# s3:// artifacts in `modelops fetch-model`: botocore is about 13 MB of wheels, 36 MB installed
# with boto3, s3transfer, jmespath and python-dateutil) is in by default too; oci:// needs
# nothing beyond httpx.
ARG MODEL_EXTRAS=sklearn,onnx,s3

# ---- builder: wheels of the project and of every dependency -------------------------
FROM python:3.11-slim-bookworm AS builder
ARG MODEL_EXTRAS

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
# The requirements are the project's dependencies plus those of the MODEL_EXTRAS extras.
COPY pyproject.toml ./
RUN python -c "import os, tomllib; project = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in os.environ['MODEL_EXTRAS'].split(',') if e]; print('\n'.join(project['dependencies'] + [r for e in extras for r in project['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip wheel --wheel-dir /wheels -r /tmp/requirements.txt

# Then the project itself, with telemetry's C bucketing loop (setup.py): the build fails if
# the wheel came out without it, rather than ship an image on the slower numpy path, or with
# the dev stack in it (devcluster/ is its own distribution, never in the image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY README.md setup.py ./
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -c "import glob, zipfile; names = zipfile.ZipFile(glob.glob('/wheels/modelops_operator-*.whl')[0]).namelist(); assert any('runtime/_bucketing' in n and n.endswith('.so') for n in names), 'no C extension in the wheel'; assert not any('devcluster' in n for n in names), 'the dev stack in the wheel'"

# ---- runtime ------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ARG MODEL_EXTRAS
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=""

LABEL org.opencontainers.image.title="modelops-operator" \
      org.opencontainers.image.description="Kubernetes operator that serves ML models, rolls new versions out behind a Prometheus-judged canary, watches drift and retrains." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/modelops \
    PATH=/opt/modelops/bin:$PATH

# A fixed numeric non-root user, so Kubernetes can verify runAsNonRoot.
RUN groupadd --system --gid 65532 modelops \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin modelops

# Install from the builder's wheels only (no index), without copying the wheels into a layer,
# with the MODEL_EXTRAS extras; the build fails if a runtime they name cannot be imported.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/modelops \
    && wheel="$(ls /wheels/modelops_operator-*.whl)" \
    && /opt/modelops/bin/pip install --no-index --find-links=/wheels "${wheel}${MODEL_EXTRAS:+[$MODEL_EXTRAS]}" \
    && /opt/modelops/bin/modelops --help > /dev/null \
    && /opt/modelops/bin/python -c "import importlib, os; [importlib.import_module({'sklearn': 'sklearn', 'onnx': 'onnxruntime', 's3': 'boto3'}[e]) for e in os.environ['MODEL_EXTRAS'].split(',') if e]"

USER 65532:65532
WORKDIR /tmp

# 8080: Prometheus metrics (/metrics); 8081: kopf liveness (/healthz).
EXPOSE 8080 8081

ENTRYPOINT ["modelops"]
CMD ["operator"]
