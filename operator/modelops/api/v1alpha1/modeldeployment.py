"""ModelDeployment: serve a model version and roll new versions out behind a judged canary."""

from __future__ import annotations

import re
from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from modelops.api.durations import Duration
from modelops.api.v1alpha1.common import (
    PRESERVE,
    ApiModel,
    Condition,
    ConfigMapKeyReference,
    EnvVar,
    LocalObjectReference,
    Name,
    Nonce,
    ResourceRequirements,
    SecretKeyReference,
    Sha256,
    Version,
    conditions_field,
)
from modelops.telemetry_contract import INVALID_REQUESTS

ModelFormat = Literal["auto", "numpy-linear", "sklearn", "onnx", "custom"]
Router = Literal["replicas", "gatewayAPI", "istio"]
Strategy = Literal["canary", "shadow"]
Phase = Literal[
    "Pending", "Available", "Progressing", "Paused", "Promoting", "Baking", "RolledBack", "Degraded", "Frozen"
]
Verdict = Literal["Pass", "Fail", "Unknown"]
CheckVerdict = Literal["Pass", "Fail", "Unknown", "Skipped"]
MAX_STEPS = 20


# pvc://CLAIM/PATH: CLAIM a PersistentVolumeClaim in the ModelDeployment's namespace (a DNS-1123
# subdomain, as Kubernetes names claims), PATH the artifact file inside it: relative, no `..`
# segment, no empty segment, not a directory. The same rule is a CEL rule in the CRD (no
# backslashes in the patterns, so they read the same in Python and in a CEL string literal).
_SUBDOMAIN = "[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
PVC_URI = f"^pvc://{_SUBDOMAIN}/[^/]+(/[^/]+)*$"
PVC_URI_DOTDOT = "/[.][.](/|$)"
PVC_URI_MESSAGE = (
    "model.uri must be pvc://CLAIM/PATH: CLAIM a PersistentVolumeClaim in this namespace (lowercase letters, "
    "digits, '-' and '.'), PATH the model file inside it (relative, no '..', no '//', not ending in '/'), "
    "e.g. pvc://fraud-models/fraud/v1/model.npz"
)


# s3://BUCKET/KEY (one object) or s3://BUCKET/PREFIX/ (a directory): BUCKET as S3 names buckets
# (3-63 lowercase letters, digits, '.', '-'), no empty path segment, no '..' segment.
S3_URI = "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|(/[^/]+)+/?)?$"
S3_URI_MESSAGE = (
    "model.uri must be s3://BUCKET/KEY (one object) or s3://BUCKET/PREFIX/ (every object below it, a directory): "
    "BUCKET 3-63 lowercase letters, digits, '.' or '-', no '..' or empty segment, e.g. s3://models/fraud/v3/"
)
# oci://REGISTRY[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], the distribution spec's grammar.
_OCI_COMPONENT = "[a-z0-9]+(([.]|_|__|[-]+)[a-z0-9]+)*"
OCI_URI = (
    f"^oci://[a-zA-Z0-9.-]+(:[0-9]+)?/{_OCI_COMPONENT}(/{_OCI_COMPONENT})*"
    "(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
OCI_URI_MESSAGE = (
    "model.uri must be oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:DIGEST (lowercase "
    "repository, 64 lowercase hex digits), e.g. oci://ghcr.io/acme/models/fraud:v3"
)
_URI_RULES = (
    ("pvc://", PVC_URI, PVC_URI_MESSAGE),
    ("s3://", S3_URI, S3_URI_MESSAGE),
    ("oci://", OCI_URI, OCI_URI_MESSAGE),
)


def uri_problem(uri: str) -> str | None:
    """Why `uri` is not a valid pvc://, s3:// or oci:// URI, or None (also None for the other schemes)."""
    for prefix, pattern, message in _URI_RULES:
        bad = re.fullmatch(pattern, uri) is None or re.search(PVC_URI_DOTDOT, uri) is not None
        if uri.startswith(prefix) and bad:
            return message
    return None


def pvc_uri_problem(uri: str) -> str | None:
    """Why `uri` is not a valid pvc:// URI, or None (also None for the other schemes)."""
    if not uri.startswith("pvc://"):
        return None
    if re.fullmatch(PVC_URI, uri) is None or re.search(PVC_URI_DOTDOT, uri) is not None:
        return PVC_URI_MESSAGE
    return None


def pvc_claim(uri: str) -> str | None:
    """The claim a pvc:// URI names, or None for other schemes."""
    if not uri.startswith("pvc://"):
        return None
    return uri[len("pvc://") :].split("/", 1)[0]


_URI_VALIDATIONS: list[Any] = [
    {
        "rule": f"!self.uri.startsWith('{prefix}') || (self.uri.matches('{pattern}') "
        f"&& !self.uri.matches('{PVC_URI_DOTDOT}'))",
        "message": message,
        "fieldPath": ".uri",
    }
    for prefix, pattern, message in _URI_RULES
]
CREDENTIALS_MESSAGE = "model.credentialsSecretRef is for s3:// and oci:// URIs only"
S3_OPTIONS_MESSAGE = "model.s3 is for s3:// URIs only"


class S3Options(ApiModel):
    """Where an S3-compatible store answers (MinIO, Ceph, a cloud's S3 API), when it is not AWS."""

    endpoint: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^https?://[^/?#]+/?$",
        description=(
            "Endpoint URL, e.g. http://minio.storage:9000 (AWS_ENDPOINT_URL_S3); path-style addressing "
            "is used with it unless virtualHostedStyle is set."
        ),
    )
    region: str | None = Field(
        default=None, max_length=64, pattern=r"^[a-z0-9-]+$", description="Region (AWS_REGION); default us-east-1."
    )
    virtual_hosted_style: bool = Field(
        default=False,
        description="Address buckets as BUCKET.endpoint instead of endpoint/BUCKET (path style).",
    )


SIGNATURE_SUFFIX = ".sig"


class PublicKeyReference(ApiModel):
    """Where the public key that must have signed the artifact is: a key of a Secret or a ConfigMap."""

    kind: Literal["Secret", "ConfigMap"] = Field(
        default="Secret", description="Secret or ConfigMap, in the ModelDeployment's namespace."
    )
    name: Name = Field(description="Name of the Secret or ConfigMap.")
    key: str = Field(
        default="cosign.pub",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key holding the PEM public key (what `cosign generate-key-pair` writes as cosign.pub).",
    )


class SignatureSpec(ApiModel):
    """A cosign key-based signature the artifact must carry; verified before the server loads anything."""

    public_key: PublicKeyReference = Field(
        description="The PEM ECDSA public key of the signer, mounted read-only into the fetch init container."
    )
    uri: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        pattern=r"^[a-z][a-z0-9+.-]*://.+",
        description=(
            "Where the signature is: the base64 signature of `cosign sign-blob --key` (--output-signature), "
            "its --bundle, or a sigstore bundle (--new-bundle-format); any scheme model.uri takes (a pvc:// "
            "signature must be in the model's claim). A directory (an s3:// prefix) is signed by signing its "
            "digest manifest (`modelops digest DIR --manifest F`). Default: the artifact's URI with .sig "
            "appended (a prefix's without its trailing /: s3://b/fraud/v3/ has s3://b/fraud/v3.sig), which "
            "also follows the versions a RetrainPolicy validates; for an oci:// artifact, the signature "
            "`cosign sign --key` stored in its registry."
        ),
    )

    def uri_for(self, artifact_uri: str) -> str | None:
        """The signature of the artifact at `artifact_uri`: `uri`, else the artifact's URI + .sig (a
        prefix's without its slash, so the signature is not part of the directory), else None for an
        oci:// artifact: the signature cosign stored in its registry."""
        if self.uri:
            return self.uri
        if artifact_uri.startswith("oci://"):
            return None
        return artifact_uri.rstrip("/") + SIGNATURE_SUFFIX


class ModelSource(ApiModel):
    """Which model version to serve and where its artifact lives."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                *_URI_VALIDATIONS,
                {
                    "rule": "!has(self.credentialsSecretRef) || self.uri.startsWith('s3://') "
                    "|| self.uri.startsWith('oci://')",
                    "message": CREDENTIALS_MESSAGE,
                    "fieldPath": ".credentialsSecretRef",
                },
                {
                    "rule": "!has(self.s3) || self.uri.startsWith('s3://')",
                    "message": S3_OPTIONS_MESSAGE,
                    "fieldPath": ".s3",
                },
            ]
        }
    }

    name: Name = Field(description="Model name; labels every child object and metric (model=...).")
    version: Version = Field(
        description="Version to serve. Changing it starts a progressive rollout of the new version."
    )
    uri: str = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^(file|https?|pvc|s3|oci)://.+",
        description=(
            "Artifact location fetched and verified by the init container: file:///path, "
            "http(s)://host/path, pvc://CLAIM/PATH (a PersistentVolumeClaim in this namespace, mounted "
            "read-only; the pods wait until the file exists), s3://BUCKET/KEY or s3://BUCKET/PREFIX/ (a "
            "directory), or oci://REGISTRY/REPOSITORY:TAG or @sha256:DIGEST (an artifact pushed with oras; "
            "several files make a directory)."
        ),
    )
    sha256: Sha256 | None = Field(
        default=None,
        description=(
            "Expected SHA-256 of the artifact, or for a directory its directory digest (sha256 over sorted "
            "'path NUL sha256-of-file LF' lines, docs/model-server.md); the pod refuses to start on a "
            "mismatch. Without it the artifact is fetched unverified and its computed digest is reported."
        ),
    )
    credentials_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret with the store's credentials, for s3:// and oci:// only. s3://: its keys become the fetch "
            "init container's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optionally "
            "AWS_SESSION_TOKEN). oci://: a kubernetes.io/dockerconfigjson Secret (key .dockerconfigjson). "
            "Without it the pod's own identity is used (IRSA/EKS Pod Identity environment on the "
            "ServiceAccount), else anonymous requests."
        ),
    )
    s3: S3Options | None = Field(default=None, description="Endpoint and region of an s3:// store.")
    format: ModelFormat = Field(
        default="auto",
        description="Artifact format; auto infers it from the file extension (.npz, .joblib, .onnx).",
    )
    baseline: ConfigMapKeyReference | None = Field(
        default=None,
        description=(
            "ConfigMap holding the training baseline (feature bucket edges); the server uses its "
            "edges for feature histograms so drift tests have populated buckets."
        ),
    )

    signature: SignatureSpec | None = Field(
        default=None,
        description=(
            "Require a cosign key-based signature of the artifact (offline: no Rekor, no Fulcio). A missing or "
            "wrong signature fails the pod's fetch init container; the ModelDeployment says so (Stalled, reason "
            "SignatureInvalid) and a canary never promotes. The signer's key fingerprint is recorded as the "
            "version's provenance."
        ),
    )

    @model_validator(mode="after")
    def _uri(self) -> ModelSource:
        problem = uri_problem(self.uri)
        if problem is not None:
            raise ValueError(problem)
        if self.credentials_secret_ref is not None and not self.uri.startswith(("s3://", "oci://")):
            raise ValueError(CREDENTIALS_MESSAGE)
        if self.s3 is not None and not self.uri.startswith("s3://"):
            raise ValueError(S3_OPTIONS_MESSAGE)
        return self


class ModelFrom(ApiModel):
    """Take new versions from a RetrainPolicy instead of editing spec.model."""

    retrain_policy_ref: LocalObjectReference = Field(
        description="RetrainPolicy whose status.latestValidated version is rolled out through the canary."
    )


class RuntimeSpec(ApiModel):
    """How the model server pods run."""

    image: str | None = Field(
        default=None,
        max_length=1024,
        description="Model server image; default is the operator's own image running `modelops serve`.",
    )
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP port of the model server (OIP v2 + /metrics).")
    resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements(requests={"cpu": "100m", "memory": "256Mi"}),
        description="Container resources of the model server.",
    )
    env: list[EnvVar] = Field(default_factory=list, description="Extra environment for the model server.")
    service_account_name: Name | None = Field(default=None, description="ServiceAccount of the serving pods.")
    pod_template: dict[str, Any] | None = Field(
        default=None,
        description=(
            "A core/v1 PodTemplateSpec merged under what the operator renders: add sidecars, "
            "volumes, nodeSelector, tolerations. The model container is named `model`."
        ),
        json_schema_extra=PRESERVE,
    )


class Autoscaling(ApiModel):
    """An HPA per variant; each variant's bounds follow its share of traffic."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
                    "fieldPath": ".minReplicas",
                }
            ]
        }
    }

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Lower bound of replicas at full traffic.")
    max_replicas: int = Field(default=5, ge=1, le=1000, description="Upper bound of replicas at full traffic.")
    target_cpu_utilization_percentage: int = Field(
        default=70,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",  # the Kubernetes spelling (as in HPA v1)
        description="Average CPU utilisation the HPA aims for.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.minReplicas must be <= autoscaling.maxReplicas")
        return self


class ParentReference(ApiModel):
    """A Gateway API parent (usually the user's Gateway) the HTTPRoute attaches to."""

    name: Name = Field(description="Name of the Gateway.")
    namespace: Name | None = Field(default=None, description="Namespace of the Gateway; default the route's.")
    section_name: str | None = Field(default=None, max_length=253, description="Listener name on the Gateway.")


class TrafficSpec(ApiModel):
    """How requests reach the variants and how the canary weight is enforced."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.router != 'gatewayAPI' || size(self.parentRefs) > 0",
                    "message": "traffic.parentRefs must name at least one Gateway when router is gatewayAPI",
                    "fieldPath": ".parentRefs",
                },
                {
                    "rule": "self.router != 'istio' || size(self.hosts) > 0",
                    "message": "traffic.hosts must list at least one host when router is istio",
                    "fieldPath": ".hosts",
                },
            ]
        }
    }

    router: Router = Field(
        default="replicas",
        description=(
            "replicas: no mesh, weight = ratio of ready replicas behind one Service (coarse); "
            "gatewayAPI: an owned HTTPRoute with weighted backendRefs; istio: an owned VirtualService."
        ),
    )
    parent_refs: list[ParentReference] = Field(
        default_factory=list, max_length=16, description="Gateways the HTTPRoute attaches to (gatewayAPI)."
    )
    hosts: list[Annotated[str, Field(max_length=253)]] = Field(
        default_factory=list, max_length=16, description="Hostnames routed to the model (HTTPRoute / VirtualService)."
    )
    gateways: list[Annotated[str, Field(max_length=253)]] = Field(
        default_factory=list, max_length=16, description="Istio gateways of the VirtualService (istio); default mesh."
    )
    port: int = Field(default=80, ge=1, le=65535, description="Port of the model's Service.")

    @model_validator(mode="after")
    def _router_needs(self) -> TrafficSpec:
        if self.router == "gatewayAPI" and not self.parent_refs:
            raise ValueError("traffic.parentRefs must name at least one Gateway when router is gatewayAPI")
        if self.router == "istio" and not self.hosts:
            raise ValueError("traffic.hosts must list at least one host when router is istio")
        return self


class PauseStep(ApiModel):
    """Hold the rollout, for a duration or until resumed."""

    duration: Duration | None = Field(
        default=None,
        description="How long to pause; empty pauses until spec.rollout.resume changes (kubectl modelops resume).",
    )


class AnalysisStep(ApiModel):
    """Run the analysis until this many consecutive intervals pass."""

    intervals: int = Field(default=1, ge=1, le=100, description="Passing analysis intervals needed to continue.")


class RolloutStep(ApiModel):
    """One step of a canary: exactly one of setWeight, pause, analysis."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.setWeight), has(self.pause), has(self.analysis)].filter(x, x).size() == 1",
                    "message": "each rollout step sets exactly one of setWeight, pause, analysis",
                }
            ]
        }
    }

    set_weight: int | None = Field(default=None, ge=0, le=100, description="Percent of traffic to the canary.")
    pause: PauseStep | None = Field(default=None, description="Pause the rollout.")
    analysis: AnalysisStep | None = Field(default=None, description="Wait for passing analysis intervals.")

    @model_validator(mode="after")
    def _one_of(self) -> RolloutStep:
        if sum(x is not None for x in (self.set_weight, self.pause, self.analysis)) != 1:
            raise ValueError("each rollout step sets exactly one of setWeight, pause, analysis")
        return self


def default_steps() -> list[RolloutStep]:
    return [
        RolloutStep(set_weight=10),
        RolloutStep(analysis=AnalysisStep(intervals=2)),
        RolloutStep(set_weight=50),
        RolloutStep(analysis=AnalysisStep(intervals=2)),
    ]


class ShadowSpec(ApiModel):
    """Shadow phase: mirror traffic to the candidate, compare, then continue as a canary."""

    mirror_percent: int = Field(default=100, ge=1, le=100, description="Percent of requests mirrored to the candidate.")
    intervals: int = Field(default=3, ge=1, le=100, description="Passing analysis intervals before the canary starts.")


class RolloutSpec(ApiModel):
    """How a new version is rolled out, judged and promoted or rolled back."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
                    "message": "rollout.steps setWeight values must increase from step to step",
                    "fieldPath": ".steps",
                },
                {
                    "rule": (
                        "self.steps.filter(s, has(s.setWeight)).all(s, "
                        "self.steps.filter(t, has(t.setWeight) && t.setWeight == s.setWeight).size() == 1)"
                    ),
                    "message": "rollout.steps setWeight values must be strictly increasing (no repeats)",
                    "fieldPath": ".steps",
                },
            ]
        }
    }

    strategy: Strategy = Field(
        default="canary",
        description="canary: shift weight step by step; shadow: mirror traffic first, then continue as canary.",
    )
    steps: list[RolloutStep] = Field(
        default_factory=default_steps,
        max_length=MAX_STEPS,
        description="Canary steps in order; after the last one the canary is promoted.",
    )
    shadow: ShadowSpec = Field(default_factory=ShadowSpec, description="Shadow phase settings (strategy: shadow).")
    interval: Duration = Field(default=Duration("1m"), description="How often the analysis runs during a rollout.")
    min_requests: int = Field(
        default=100, ge=1, description="Requests per variant per interval before any verdict; fewer gives Unknown."
    )
    max_failed_checks: int = Field(default=2, ge=1, le=100, description="Failed analyses that roll the canary back.")
    max_unknown_checks: int = Field(
        default=5, ge=1, le=1000, description="Analyses without a verdict (no data, Prometheus down) before rollback."
    )
    progress_deadline: Duration = Field(
        default=Duration("30m"), description="Longest a rollout may take before rollback."
    )
    bake_time: Duration = Field(
        default=Duration("30m"),
        description=(
            "After promotion, keep the previous version warm (at full replicas, ready, out of traffic) and switch "
            "back to it on a page-level burn of any SLO; 0s disables."
        ),
    )
    scale_down_delay: Duration = Field(
        default=Duration("30s"),
        description=(
            "How long a version that traffic has just left (rolled back, aborted, superseded, reverted, or the "
            "previous version after its bake) keeps running before it is removed, so in-flight requests finish "
            "and routers drop it first. With router replicas its pods leave the Service by terminating at once."
        ),
    )
    paused: bool = Field(default=False, description="Hold the rollout at its current step.")
    promote: Nonce | None = Field(
        default=None,
        description="Set to a new value to promote now, skipping remaining steps (acknowledged in status).",
    )
    resume: Nonce | None = Field(
        default=None, description="Set to a new value to continue past a pause step that has no duration."
    )
    abort: Nonce | None = Field(
        default=None, description="Set to a new value to abort and roll back the current rollout."
    )
    retry: Nonce | None = Field(default=None, description="Set to a new value to retry a rolled-back version.")

    @model_validator(mode="after")
    def _consistent(self) -> RolloutSpec:
        weights = [s.set_weight for s in self.steps if s.set_weight is not None]
        pairs = list(pairwise(weights))
        if any(b < a for a, b in pairs):
            raise ValueError("rollout.steps setWeight values must increase from step to step")
        if any(b == a for a, b in pairs):
            raise ValueError("rollout.steps setWeight values must be strictly increasing (no repeats)")
        # durations with days cannot be compared in CEL, so this rule lives here (reported as a condition)
        if self.interval.delta > self.progress_deadline.delta:
            raise ValueError(
                f"rollout.interval ({self.interval}) is longer than rollout.progressDeadline "
                f"({self.progress_deadline}): no analysis could finish before the deadline"
            )
        return self


class BasicAuthSecretReference(ApiModel):
    """A Secret holding a user name and a password (keys as in a kubernetes.io/basic-auth Secret)."""

    name: Name = Field(description="Name of the Secret, in the namespace of the resource.")
    username_key: str = Field(
        default="username", min_length=1, max_length=253, description="Key holding the user name."
    )
    password_key: str = Field(default="password", min_length=1, max_length=253, description="Key holding the password.")


class PrometheusSource(ApiModel):
    """Where to query Prometheus, and how to authenticate."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.bearerTokenSecretRef) || !has(self.basicAuthSecretRef)",
                    "message": "prometheus.bearerTokenSecretRef and prometheus.basicAuthSecretRef are mutually "
                    "exclusive: set at most one",
                }
            ]
        }
    }

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Prometheus base URL; default the operator's --prometheus-url.",
    )
    bearer_token_secret_ref: SecretKeyReference | None = Field(
        default=None,
        description=(
            "Secret key (in this namespace) holding a bearer token, sent as `Authorization: Bearer <token>`. "
            "Read on every pass that queries Prometheus, so a rotated token is used on the next pass; a missing "
            "Secret or key makes every check Unknown with a reason naming it. Exclusive with basicAuthSecretRef."
        ),
    )
    basic_auth_secret_ref: BasicAuthSecretReference | None = Field(
        default=None,
        description=(
            "Secret (in this namespace) holding HTTP basic-auth credentials, keys `username` and `password` by "
            "default (a kubernetes.io/basic-auth Secret). Read on every pass that queries Prometheus; exclusive "
            "with bearerTokenSecretRef."
        ),
    )
    insecure_skip_verify: bool = Field(default=False, description="Skip TLS verification (test setups only).")

    @model_validator(mode="after")
    def _one_credential(self) -> PrometheusSource:
        if self.bearer_token_secret_ref is not None and self.basic_auth_secret_ref is not None:
            raise ValueError(
                "prometheus.bearerTokenSecretRef and prometheus.basicAuthSecretRef are mutually exclusive: "
                "set at most one"
            )
        return self


class AvailabilitySLO(ApiModel):
    """Share of requests that must succeed."""

    objective: float = Field(
        default=99.9, gt=0, lt=100, description="Percent of successful requests, in (0, 100), e.g. 99.9."
    )
    window: Duration = Field(default=Duration("30d"), description="SLO window the error budget is spread over.")


class LatencySLO(ApiModel):
    """Share of requests that must be faster than a threshold."""

    objective: float = Field(default=99.0, gt=0, lt=100, description="Percent of requests under the threshold.")
    threshold_seconds: float = Field(
        default=0.25, gt=0, description="Latency threshold; must equal a bucket edge of the duration histogram."
    )


QualityMetric = Literal["accuracy", "precision", "recall", "auc"]


class QualitySLO(ApiModel):
    """A model-quality objective judged on ground-truth labels sent back through the servers' feedback
    endpoint (docs/analysis.md#quality-checks); too few labels is Unknown, never a pass."""

    metric: QualityMetric = Field(
        description=(
            "accuracy, precision or recall at the serving threshold (from the confusion counts), or auc (from the "
            "label-split score histograms, binned)."
        )
    )
    objective: float = Field(
        gt=0,
        le=1,
        description="Lowest acceptable value of the metric, as a ratio in (0, 1], e.g. 0.9.",
    )
    window: Duration = Field(
        default=Duration("1h"),
        description=(
            "Labels that arrived over this window judge the stable version (status.quality, the bake); a canary "
            "is judged on the labels since its rollout began, at most this long. Choose it longer than the "
            "usual label delay (status.quality.labelLagP90Seconds)."
        ),
    )
    min_labels: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description=(
            "Labels (in the metric's denominator: all labels for accuracy, labelled positive predictions for "
            "precision, labelled positives for recall, of each class for auc) before any verdict; fewer is "
            "Unknown (canary) or InsufficientData (status)."
        ),
    )
    max_drop_vs_stable: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description=(
            "Largest drop of the canary's metric below stable's that passes quality-vs-stable (0.02 = two "
            "points); a larger one fails only when also significant at analysis.alpha (one-sided)."
        ),
    )


class SLOSpec(ApiModel):
    """The service-level objectives canaries and bake windows are judged by."""

    availability: AvailabilitySLO = Field(default_factory=AvailabilitySLO, description="Availability objective.")
    latency: LatencySLO | None = Field(default_factory=LatencySLO, description="Latency objective; null disables.")
    quality: QualitySLO | None = Field(
        default=None,
        description=(
            "Model-quality objective on ground-truth labels: canary checks quality and quality-vs-stable, a bake "
            "check, status.quality; null (the default) disables."
        ),
    )


class PredictionDrift(ApiModel):
    """Compare canary predictions with stable predictions."""

    enabled: bool = Field(default=True, description="Run the prediction drift check.")
    max_psi: float = Field(
        default=0.1, gt=0, description="Largest PSI between canary and stable predictions, less its sampling noise."
    )
    alpha: float = Field(default=0.01, gt=0, lt=1, description="Significance level of the homogeneity test.")


class InvalidRequests(ApiModel):
    """Compare the share of requests the canary refuses as invalid with stable's."""

    enabled: bool = Field(
        default=True,
        description=(
            "Run the invalid-vs-stable check: fail a canary that refuses (4xx, counted in "
            f"{INVALID_REQUESTS}) a larger share of what it receives than stable does, e.g. "
            "after a changed input schema. Skipped, not Unknown, when neither version exports that counter."
        ),
    )
    max_increase: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description=(
            "Largest increase of the refused share over stable's that passes, as a fraction (0.01 = one "
            "percentage point); a larger one fails only when also statistically significant at analysis.alpha."
        ),
    )


class LatencyComparison(ApiModel):
    """How much slower than stable a canary may be before latency-vs-stable fails it."""

    max_increase: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description=(
            "Largest increase of the canary's mean latency over stable's that passes, as a fraction of stable's "
            "(0.2 = 20% slower). A larger one fails only when the canary is also significantly slower "
            "(Mann-Whitney on the latency histograms, at analysis.alpha) and slower than minDifference."
        ),
    )
    min_difference: Duration = Field(
        default=Duration("1ms"),
        description=(
            "Mean latency increases up to this pass whatever their ratio: new pods, a smaller share of traffic "
            "and a busy node make a healthy version measurably but immaterially slower."
        ),
    )


class ThresholdRange(ApiModel):
    """Inclusive bounds for a custom metric."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.min) || has(self.max)", "message": "thresholdRange needs min or max"},
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "message": "thresholdRange.min must be <= thresholdRange.max",
                },
            ]
        }
    }

    min: float | None = Field(default=None, description="Smallest passing value.")
    max: float | None = Field(default=None, description="Largest passing value.")

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdRange:
        if self.min is None and self.max is None:
            raise ValueError("thresholdRange needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("thresholdRange.min must be <= thresholdRange.max")
        return self


class CustomMetric(ApiModel):
    """A PromQL check; the query may use {{namespace}}, {{model}}, {{version}}, {{variant}}, {{interval}}."""

    name: Name = Field(description="Check name shown in status and events.")
    query: str = Field(min_length=1, max_length=4096, description="PromQL template returning one number.")
    threshold_range: ThresholdRange = Field(description="Bounds a passing value lies within.")


class AnalysisSpec(ApiModel):
    """How a canary (and the stable version during bake) is judged."""

    prometheus: PrometheusSource = Field(default_factory=PrometheusSource, description="Prometheus to query.")
    slo: SLOSpec = Field(default_factory=SLOSpec, description="Objectives checked as burn rates and thresholds.")
    max_burn_rate: float = Field(
        default=14.4,
        gt=0,
        description=(
            "Largest SLO burn rate a canary may show over one analysis interval, and over the whole rollout "
            "so far once it is two intervals old (14.4 = the page-level rate: a 30-day budget gone in about "
            "2 days). Failed only when confidently above, given traffic."
        ),
    )
    alpha: float = Field(default=0.01, gt=0, lt=0.5, description="Significance level of every statistical canary test.")
    compare_to_stable: bool = Field(
        default=True, description="Fail a canary that is statistically worse than stable over the same interval."
    )
    latency_vs_stable: LatencyComparison = Field(
        default_factory=LatencyComparison,
        description="Tolerance of the latency-vs-stable check (run when compareToStable is true).",
    )
    prediction_drift: PredictionDrift = Field(
        default_factory=PredictionDrift, description="Canary-vs-stable prediction distribution check."
    )
    invalid_requests: InvalidRequests = Field(
        default_factory=InvalidRequests,
        description="Canary-vs-stable check of the share of requests refused as invalid.",
    )
    metrics: list[CustomMetric] = Field(default_factory=list, max_length=32, description="Custom PromQL checks.")


class FreezeSpec(ApiModel):
    """Deploy freeze: no new rollout while the stable version burns error budget."""

    burn_rate_above: float = Field(
        default=2.0,
        gt=0,
        description="Stable burn rate over 1h, of any SLO the spec declares (availability, latency), that freezes "
        "rollouts.",
    )
    override: bool = Field(default=False, description="Roll out anyway while frozen.")
    when_unknown: Literal["Hold", "Proceed"] = Field(
        default="Hold",
        description=(
            "When the stable SLOs cannot be read (Prometheus unreachable, refusing, not configured, or no latency "
            "bucket at the threshold): Hold keeps the freeze closed and says why in the Frozen condition; Proceed "
            "rolls out as if nothing burned. No traffic at all is no burn, not unknown."
        ),
    )


PROMETHEUS_LABEL_NAME = "^[a-zA-Z_][a-zA-Z0-9_]*$"
_LABEL_NAMES_RULE = "self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$'))"
MAX_ALERT_LABELS = 32


class AlertsSpec(ApiModel):
    """The alerts the operator installs for this model (see docs/alerting.md).

    A PrometheusRule (monitoring.coreos.com/v1) named after the ModelDeployment, owned by it: recording
    rules for each declared SLO and one `ModelopsErrorBudgetBurn` alert per window pair (1h/5m and
    6h/30m page, 1d/2h and 3d/6h ticket, factors from slo.availability.window), over the live traffic
    of every version (stable and canary, never a shadow). Needs the Prometheus Operator's CRD; without
    it the AlertRules condition says so and nothing else changes.
    """

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": f"!has(self.labels) || {_LABEL_NAMES_RULE.replace('self.all', 'self.labels.all')}",
                    "message": "alerts.labels: keys must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*)",
                    "fieldPath": ".labels",
                },
                {
                    "rule": f"!has(self.annotations) || "
                    f"{_LABEL_NAMES_RULE.replace('self.all', 'self.annotations.all')}",
                    "message": "alerts.annotations: keys must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*)",
                    "fieldPath": ".annotations",
                },
            ]
        }
    }

    enabled: bool = Field(
        default=True,
        description="Install the PrometheusRule; false removes it (opt out, e.g. when you write your own rules).",
    )
    labels: dict[str, Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=dict,
        max_length=MAX_ALERT_LABELS,
        description="Labels added to every alert, for routing in Alertmanager (e.g. team: fraud). They never "
        "replace the alert's own labels (namespace, model, slo, severity, long_window, short_window).",
    )
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=MAX_ALERT_LABELS,
        description="Annotations added to every alert; yours win over the operator's (summary, description, "
        "runbook_url), e.g. your own runbook_url or a dashboard link.",
    )
    rule_labels: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=MAX_ALERT_LABELS,
        description="Labels of the PrometheusRule object itself, e.g. the label a Prometheus Operator's "
        "ruleSelector selects on (kube-prometheus-stack: release: <its release name>).",
    )

    @model_validator(mode="after")
    def _label_names(self) -> AlertsSpec:
        for field, keys in (("labels", self.labels), ("annotations", self.annotations)):
            bad = [k for k in keys if not re.fullmatch(PROMETHEUS_LABEL_NAME, k)]
            if bad:
                raise ValueError(f"alerts.{field}: {', '.join(map(repr, bad))} not a Prometheus label name")
        return self


SHADOW_NEEDS_MESH = (
    "rollout.strategy shadow needs traffic.router gatewayAPI or istio: the replicas router has no mirroring, so "
    "shadow pods behind the model's Service would answer live traffic"
)


class ModelDeploymentSpec(ApiModel):
    """Desired state of a served model."""

    model_config = {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.rollout) || !has(self.rollout.strategy) || self.rollout.strategy != 'shadow' "
                    "|| (has(self.traffic) && has(self.traffic.router) && self.traffic.router != 'replicas')",
                    "message": SHADOW_NEEDS_MESH,
                    "fieldPath": ".rollout.strategy",
                }
            ]
        }
    }

    model: ModelSource = Field(description="The model version to serve.")
    model_from: ModelFrom | None = Field(default=None, description="Take validated versions from a RetrainPolicy.")
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec, description="Model server pods.")
    replicas: int = Field(default=2, ge=1, le=1000, description="Replicas of the stable variant (without autoscaling).")
    autoscaling: Autoscaling | None = Field(default=None, description="HPA per variant instead of fixed replicas.")
    traffic: TrafficSpec = Field(default_factory=TrafficSpec, description="Routing and traffic split.")
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="Progressive rollout of new versions.")
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec, description="Checks that judge a new version.")
    freeze: FreezeSpec | None = Field(default=None, description="Deploy freeze on budget burn; null disables.")
    history_limit: int = Field(default=10, ge=1, le=100, description="Rollout history entries kept in status.")
    alerts: AlertsSpec = Field(
        default_factory=AlertsSpec, description="SLO burn-rate alerts installed as a PrometheusRule; opt out here."
    )

    @model_validator(mode="after")
    def _shadow_needs_mesh(self) -> ModelDeploymentSpec:
        if self.rollout.strategy == "shadow" and self.traffic.router == "replicas":
            raise ValueError(SHADOW_NEEDS_MESH)
        return self


# ---- status -------------------------------------------------------------------------------


class FetchFailureStatus(ApiModel):
    """Why this version's pods cannot load their model: the fetch init container's last failure."""

    reason: str = Field(
        description="As the init container wrote it: SignatureInvalid, SignatureMissing, PublicKeyInvalid, "
        "DigestMismatch, FetchFailed, or a storage reason."
    )
    message: str = Field(default="", description="The init container's termination message.")
    pod: str = Field(default="", description="The pod it was read from.")


class VariantStatus(ApiModel):
    """What one variant (stable or canary) is running and how ready it is."""

    version: str = Field(description="Model version.")
    uri: str = Field(default="", description="Artifact URI.")
    sha256: str | None = Field(default=None, description="Artifact checksum.")
    baseline: str | None = Field(
        default=None,
        description="ConfigMap (key baseline.json) with this version's training baseline, when it came from a "
        "RetrainPolicy run; else spec.model.baseline applies.",
    )
    retrain_run: str | None = Field(
        default=None, description="Provenance: the RetrainPolicy run that produced this version, if one did."
    )
    replicas: int = Field(default=0, description="Desired replicas.")
    ready_replicas: int = Field(default=0, description="Ready replicas (model loaded and verified).")
    variant: Literal["stable", "canary"] = Field(
        default="stable",
        description="The variant label its pods carry: how the version entered production (fixed for its life, "
        "so promotion never restarts pods; select series by version, not by this label).",
    )
    fetch_failure: FetchFailureStatus | None = Field(
        default=None, description="Set while no pod of this version is ready because its model fetch failed."
    )
    digest: str | None = Field(
        default=None, description="Provenance: the artifact's SHA-256 as the fetch computed it (reported by a pod)."
    )
    signer: str | None = Field(
        default=None,
        description="Provenance: fingerprint (SHA256:...) of the public key whose signature the fetch verified.",
    )


class CheckStatus(ApiModel):
    """One check of one analysis: the verdict with the numbers behind it."""

    name: str = Field(description="Check name.")
    verdict: CheckVerdict = Field(
        description="Pass, Fail or Unknown (never counted as a pass); Skipped when the check cannot apply to these "
        "servers (no series on either side for it), which counts as neither."
    )
    value: float | None = Field(default=None, description="Measured value; null when there was no data.")
    threshold: str = Field(default="", description="What the value was compared with.")
    samples: int | None = Field(default=None, description="Requests or observations behind the value.")
    query: str = Field(default="", description="The PromQL that produced the value.")
    reason: str = Field(default="", description="One line a human can act on.")


class AnalysisResult(ApiModel):
    """The latest analysis."""

    time: datetime = Field(description="Evaluation time (queries use it, so the decision can be reproduced).")
    verdict: Verdict = Field(description="Fail if any check failed, else Unknown if any was unknown, else Pass.")
    checks: list[CheckStatus] = Field(default_factory=list, description="Every check with its numbers.")


class HistoryEntry(ApiModel):
    """One finished rollout."""

    version: str = Field(description="Version that was rolled out.")
    outcome: Literal["Promoted", "RolledBack", "Aborted", "Reverted", "Superseded"] = Field(
        description="Promoted; RolledBack by analysis or deadline; Aborted by a person; Reverted during bake; "
        "Superseded by a newer version."
    )
    reason: str = Field(default="", description="Why, with the deciding values.")
    at: datetime = Field(description="When it ended.")
    retrain_run: str | None = Field(default=None, description="RetrainPolicy run that produced the version.")
    digest: str | None = Field(default=None, description="The artifact's SHA-256 as its pods fetched it.")
    signer: str | None = Field(default=None, description="Fingerprint of the key that signed the artifact.")
    failure_reason: str | None = Field(
        default=None,
        description="ModelFetchFailed or SignatureInvalid when the rollout ended because its pods could not "
        "fetch or verify the model.",
    )


class Acknowledged(ApiModel):
    """Nonces from spec.rollout the operator has acted on."""

    promote: str | None = Field(default=None, description="Last promote nonce acted on.")
    resume: str | None = Field(default=None, description="Last resume nonce acted on.")
    abort: str | None = Field(default=None, description="Last abort nonce acted on.")
    retry: str | None = Field(default=None, description="Last retry nonce acted on.")


class BakeStatus(ApiModel):
    """The bake window after a promotion."""

    until: datetime = Field(description="When the bake window ends.")
    previous: VariantStatus = Field(description="The version kept warm (full replicas, no traffic) to revert to.")
    reverting: str | None = Field(
        default=None,
        description="Why a revert was decided; set while the previous version is not yet ready to take traffic "
        "back (the switch happens once it is).",
    )


class QualityStatus(ApiModel):
    """The stable version's quality on ground-truth labels (spec.analysis.slo.quality), refreshed once per
    rollout interval; the Quality condition says whether it meets the objective."""

    version: str = Field(description="The version judged (the stable one).")
    metric: QualityMetric = Field(description="The metric of spec.analysis.slo.quality.")
    value: float | None = Field(
        default=None,
        description="The metric over the window; shown even with fewer than minLabels labels, but then not judged. "
        "Null without labels.",
    )
    objective: float = Field(description="The objective it is judged against.")
    labels: int = Field(default=0, description="Labels that arrived in the window.")
    label_lag_p90_seconds: float | None = Field(
        default=None,
        description="90th percentile of the time from prediction to label of those labels: how stale the figure "
        "is (from modelops_label_delay_seconds). Null without labels.",
    )
    window: str = Field(default="", description="The window the labels arrived in.")
    verdict: Verdict = Field(description="Pass, Fail (confidently below the objective) or Unknown (too few labels).")
    reason: str = Field(default="", description="The numbers behind the verdict.")
    evaluated_at: datetime = Field(description="When it was read.")


class RetiringVariant(VariantStatus):
    """A version traffic has left, kept running until `until` (spec.rollout.scaleDownDelay), then removed."""

    until: datetime = Field(description="When its Deployment is removed.")


class ModelDeploymentStatus(ApiModel):
    """Observed state of a served model; everything a restarted operator needs to continue."""

    model_config = {"extra": "ignore"}

    observed_generation: int | None = Field(default=None, description="Generation of the spec last reconciled.")
    phase: Phase = Field(default="Pending", description="Where the deployment is in its lifecycle.")
    message: str = Field(default="", description="Human summary of the current state.")
    stable: VariantStatus | None = Field(default=None, description="The version serving production traffic.")
    canary: VariantStatus | None = Field(default=None, description="The version being rolled out.")
    canary_weight: int = Field(default=0, description="Percent of traffic the canary receives now.")
    current_step: int | None = Field(default=None, description="Index of the current rollout step.")
    shadowing: bool = Field(default=False, description="The candidate receives mirrored traffic only (shadow phase).")
    step_passes: int = Field(default=0, description="Passing analyses in the current step.")
    failed_checks: int = Field(default=0, description="Failed analyses in this rollout.")
    unknown_checks: int = Field(default=0, description="Analyses without a verdict in this rollout.")
    rollout_started_at: datetime | None = Field(default=None, description="When the current rollout began.")
    step_started_at: datetime | None = Field(default=None, description="When the current step began.")
    last_analysis: AnalysisResult | None = Field(default=None, description="The latest analysis and its checks.")
    bake: BakeStatus | None = Field(default=None, description="The bake window after the last promotion.")
    quality: QualityStatus | None = Field(
        default=None, description="The stable version's quality on labels, when spec.analysis.slo.quality is set."
    )
    retiring: list[RetiringVariant] = Field(
        default_factory=list, description="Versions without traffic, kept until their scale-down delay ends."
    )
    blocked_version: str | None = Field(
        default=None,
        description="A version that was rolled back or reverted; not rolled out again until spec.rollout.retry "
        "changes.",
    )
    acknowledged: Acknowledged = Field(default_factory=Acknowledged, description="Manual requests acted on.")
    history: list[HistoryEntry] = Field(default_factory=list, description="Finished rollouts, newest first.")
    conditions: list[Condition] = conditions_field()


class ModelDeployment(ApiModel):
    """A served ML model whose new versions roll out behind a Prometheus-judged canary."""

    model_config = {"extra": "ignore"}

    api_version: str = Field(default="modelops.dev/v1alpha1", description="modelops.dev/v1alpha1")
    kind: str = Field(default="ModelDeployment", description="ModelDeployment")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ModelDeploymentSpec = Field(description="Desired state.")
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus, description="Observed state.")
