"""The telemetry contract: every metric and label name model servers export and the operator reads.

A model server (`modelops.runtime.telemetry`, or any other) exports these series, and the operator's
PromQL (`modelops.promql`), its canary and drift analysis and the PrometheusRule it writes read them.
Each name is spelled here once so the two sides cannot drift apart; a unit test scrapes the
reference server and checks that it exports exactly these names. Imports nothing: any layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping

# ---- labels ------------------------------------------------------------------------------

MODEL = "model"
VERSION = "version"
VARIANT = "variant"
SERVER_LABELS = (MODEL, VERSION, VARIANT)  # on every series a server exports
NAMESPACE = "namespace"  # added by Prometheus' scrape configuration (the pod's namespace), not by the server

CODE = "code"  # HTTP status of an inference request; 499: the client left before it was read; 4xx/5xx: pooled
REASON = "reason"  # why a request was refused as invalid
FEATURE = "feature"
CATEGORY = "category"
CLASS = "class"  # a classifier's predicted class
URI = "uri"
SHA256 = "sha256"
SIGNER = "signer"  # fingerprint of the key whose signature the fetch verified ("" when unsigned)
RETRAIN_RUN = "retrain_run"  # the RetrainPolicy run that produced the version ("" otherwise)
LE = "le"  # a histogram bucket's upper bound (Prometheus' own name)
OUTCOME = "outcome"  # a labelled prediction at the serving threshold: tp, fp, tn, fn
LABEL = "label"  # the ground truth a caller sent back for a prediction: "0" or "1"

# ---- series a model server exports -------------------------------------------------------

REQUESTS = "modelops_requests_total"  # counter {code}
REQUEST_DURATION = "modelops_request_duration_seconds"  # histogram
INVALID_REQUESTS = "modelops_invalid_requests_total"  # counter {reason}
FEATURE_VALUE = "modelops_feature_value"  # histogram {feature}, edges from the training baseline
FEATURE_CATEGORY = "modelops_feature_category_total"  # counter {feature, category}
PREDICTION_SCORE = "modelops_prediction"  # histogram of scores
PREDICTION_CLASS = "modelops_prediction_class_total"  # counter {class}
MODEL_INFO = "modelops_model_info"  # gauge {uri, sha256, signer, retrain_run}, always 1
# Label telemetry (binary classifiers): ground truth sent back to POST .../feedback, joined to the predictions.
FEEDBACK = "modelops_feedback_total"  # counter {outcome}: labelled predictions at the serving threshold
FEEDBACK_IGNORED = "modelops_feedback_ignored_total"  # counter {reason}: labels not counted (unmatched, ...)
FEEDBACK_REQUESTS = "modelops_feedback_requests_total"  # counter {code}: feedback requests by HTTP status
LABELLED_SCORE = "modelops_labelled_score"  # histogram {label}: scores of labelled predictions, split by label
LABEL_DELAY = "modelops_label_delay_seconds"  # histogram: from a prediction to its label
UNLABELLED = "modelops_predictions_unlabelled_total"  # counter: predictions forgotten without a label

OUTCOMES = ("tp", "fp", "tn", "fn")  # the values of OUTCOME
LABELS = ("0", "1")  # the values of LABEL
CORRECT = ("tp", "tn")

# Every exported metric -> its labels besides SERVER_LABELS (a histogram's _bucket series adds LE).
METRICS: Mapping[str, tuple[str, ...]] = {
    MODEL_INFO: (URI, SHA256, SIGNER, RETRAIN_RUN),
    REQUESTS: (CODE,),
    REQUEST_DURATION: (),
    INVALID_REQUESTS: (REASON,),
    FEATURE_VALUE: (FEATURE,),
    FEATURE_CATEGORY: (FEATURE, CATEGORY),
    PREDICTION_SCORE: (),
    PREDICTION_CLASS: (CLASS,),
    FEEDBACK: (OUTCOME,),
    FEEDBACK_IGNORED: (REASON,),
    FEEDBACK_REQUESTS: (CODE,),
    LABELLED_SCORE: (LABEL,),
    LABEL_DELAY: (),
    UNLABELLED: (),
}
HISTOGRAMS = frozenset({REQUEST_DURATION, FEATURE_VALUE, PREDICTION_SCORE, LABELLED_SCORE, LABEL_DELAY})

UNKNOWN_MODEL = "unknown_model"  # the REASON of a request for a model this server does not serve


def bucket(histogram: str) -> str:
    """The cumulative bucket series of a histogram: `modelops_feature_value` -> `modelops_feature_value_bucket`."""
    return f"{histogram}_bucket"


def histogram_sum(histogram: str) -> str:
    """The sum of observed values: `modelops_request_duration_seconds` -> `..._sum`."""
    return f"{histogram}_sum"


def histogram_count(histogram: str) -> str:
    """The number of observations: `modelops_request_duration_seconds` -> `..._count`."""
    return f"{histogram}_count"


def model_labels(namespace: str, model: str, version: str | None = None) -> dict[str, str]:
    """The labels that select one model's series, or one version's with `version`."""
    labels = {NAMESPACE: namespace, MODEL: model}
    if version is not None:
        labels[VERSION] = version
    return labels


# ---- series and alerts the operator's PrometheusRule records -----------------------------

SLO = "slo"  # "availability" or "latency"
SEVERITY = "severity"
LONG_WINDOW = "long_window"
SHORT_WINDOW = "short_window"
SLO_ERROR_RATIO = "modelops:slo_errors_per_request:ratio_rate"  # + the window, e.g. ...ratio_rate1h
SLO_EVENTS = "modelops:slo_requests:increase"  # + the window
BURN_ALERT = "ModelopsErrorBudgetBurn"
