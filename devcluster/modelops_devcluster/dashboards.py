"""The Grafana dashboards the Helm chart ships, generated with grafana-foundation-sdk.

Three views, one JSON file each in charts/modelops-operator/files/dashboards/ (`make dashboards`
writes them; tests/dashboards/test_golden.py fails when the committed files differ from what this
module generates, as tests/crdgen does for the CRDs):

- fleet: every ModelDeployment with its model, versions, phase, availability budget left, drift
  and last retraining, and the traffic of every model;
- rollout (on call): one model's versions side by side (requests, errors, latency, burn rates),
  the canary weight, the phase, and the rollout's phase changes and weight steps as annotations;
- debug: one model's per-feature drift, feature and prediction distributions, invalid requests
  by reason, answers by code, and the artifacts served.

Metric and label names come from `modelops.telemetry_contract` (what model servers export) and
from the metric objects in `modelops.controllers.metrics` (what the operator exports): nothing
is spelled twice. Series are compared by `version`, never by `variant`: a promoted canary's pods
keep `variant="canary"` (see docs/telemetry.md).

A dev-time tool: the SDK is a dev dependency, never the operator's, so this lives in the dev stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import (
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as gcm
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from prometheus_client.metrics import MetricWrapperBase

from modelops.controllers import metrics as om
from modelops.promql.expr import selector
from modelops.telemetry_contract import (
    CATEGORY,
    CLASS,
    CODE,
    CORRECT,
    FEATURE,
    FEATURE_CATEGORY,
    FEATURE_VALUE,
    FEEDBACK,
    INVALID_REQUESTS,
    LE,
    MODEL,
    MODEL_INFO,
    NAMESPACE,
    OUTCOME,
    PREDICTION_CLASS,
    PREDICTION_SCORE,
    REASON,
    REQUEST_DURATION,
    REQUESTS,
    SHA256,
    URI,
    VARIANT,
    VERSION,
    bucket,
    histogram_count,
    histogram_sum,
)

CHART_DIR = Path("charts/modelops-operator/files/dashboards")
TAGS = ["modelops"]
DATASOURCE = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"

# label names of the operator's own series (see controllers/metrics.py)
NAME = "name"
SLO = "slo"
RESULT = "result"
KIND = "kind"
MODEL_DEPLOYMENT = "model_deployment"
STABLE_VERSION = "stable_version"
CANARY_VERSION = "canary_version"


def series(metric: MetricWrapperBase) -> str:
    """The name a metric object's samples carry in Prometheus (a counter's with `_total`)."""
    family = next(iter(metric.describe()))
    return f"{family.name}_total" if family.type == "counter" else family.name


PHASE = series(om.PHASE)  # an Enum: its state is in a label of the same name
CANARY_WEIGHT = series(om.CANARY_WEIGHT)
DEPLOYMENT_INFO = series(om.DEPLOYMENT_INFO)
SLO_OBJECTIVE = series(om.SLO_OBJECTIVE)
DRIFT_MONITOR_INFO = series(om.DRIFT_MONITOR_INFO)
DRIFT_SCORE = series(om.DRIFT_SCORE)
DRIFT_DETECTED = series(om.DRIFT_DETECTED)
DRIFT_SHARE = series(om.DRIFT_SHARE)
DRIFT_EVALUATIONS = series(om.DRIFT_EVALUATIONS)
RETRAIN_RUNS = series(om.RETRAIN_RUNS)
RETRAIN_LAST_FINISHED = series(om.RETRAIN_LAST_FINISHED)
RECONCILES = series(om.RECONCILES)
INVALID_RESOURCES = series(om.INVALID)
QUALITY_RATIO = series(om.QUALITY_RATIO)
QUALITY_LABELS = series(om.QUALITY_LABELS)
QUALITY_LABEL_LAG = series(om.QUALITY_LABEL_LAG)


# ---- PromQL -----------------------------------------------------------------------------------


def sel(metric: str, regex: Mapping[str, str], labels: Mapping[str, str] | None = None) -> str:
    """A selector; `regex` values are matched with =~ (template variables: `$namespace`), `labels` exactly."""
    return selector(metric, labels, regex=regex)


def by(*labels: str) -> str:
    return ", ".join(labels)


NS = {NAMESPACE: "$namespace"}
NS_MODEL = {NAMESPACE: "$namespace", MODEL: "$model"}


def deployments() -> str:
    """The ModelDeployments of the selected models: (namespace, name, model) -> 1."""
    return f"max by ({by(NAMESPACE, NAME, MODEL)}) ({sel(DEPLOYMENT_INFO, NS_MODEL)})"


def of_deployments(expr: str) -> str:
    """`expr` (per namespace, name) for the selected models' ModelDeployments, with their `model` label."""
    return f"({expr}) * on ({by(NAMESPACE, NAME)}) group_left ({MODEL}) {deployments()}"


def monitors() -> str:
    """The DriftMonitors watching the selected models' ModelDeployments: (namespace, name, model) -> 1."""
    watched = f'label_replace({deployments()}, "{MODEL_DEPLOYMENT}", "$1", "{NAME}", "(.*)")'
    return (
        f"max by ({by(NAMESPACE, NAME, MODEL)}) ({sel(DRIFT_MONITOR_INFO, NS)} "
        f"* on ({by(NAMESPACE, MODEL_DEPLOYMENT)}) group_left ({MODEL}) {watched})"
    )


def of_monitors(expr: str) -> str:
    return f"({expr}) * on ({by(NAMESPACE, NAME)}) group_left ({MODEL}) {monitors()}"


def to_deployment(expr: str) -> str:
    """Series keyed by `model_deployment` re-keyed as `name` (the ModelDeployment's), for a table keyed by it."""
    return f'max by ({by(NAMESPACE, NAME)}) (label_replace({expr}, "{NAME}", "$1", "{MODEL_DEPLOYMENT}", "(.*)"))'


def objective(slo: str) -> str:
    """Each selected model's objective for `slo` as a ratio: (namespace, model) -> 0.999."""
    return f"max by ({by(NAMESPACE, MODEL)}) ({of_deployments(sel(SLO_OBJECTIVE, NS, {SLO: slo}))})"


def rate(metric: str, group: Sequence[str], window: str = RATE, labels: Mapping[str, str] | None = None) -> str:
    return f"sum by ({by(*group)}) (rate({sel(metric, NS_MODEL, labels)}[{window}]))"


def error_ratio(group: Sequence[str], window: str = RATE) -> str:
    """5xx answers over all answers (a 4xx is the client's error, as in promql/sli.py).

    The reference server exports every code at 0 from the start; a server that exports a code's series
    only once it answered one has no 5xx series until it fails: that is 0, not "no data" (`or` the
    total times 0)."""
    bad = f"sum by ({by(*group)}) (rate({sel(REQUESTS, {**NS_MODEL, CODE: '5..'})}[{window}]))"
    total = rate(REQUESTS, group, window)
    return f"({bad} or {total} * 0) / {total}"


def slow_ratio(group: Sequence[str], window: str = RATE) -> str:
    """Answers slower than the latency threshold bucket ($latency_le) over all answers."""
    count = rate(bucket(REQUEST_DURATION), group, window, {LE: "+Inf"})
    fast = rate(bucket(REQUEST_DURATION), group, window, {LE: "$latency_le"})
    return f"({count} - {fast}) / {count}"


def accuracy(group: Sequence[str], window: str) -> str:
    """Correct labels over all labels, per `group`."""
    correct = {**NS_MODEL, OUTCOME: "|".join(CORRECT)}
    right = f"sum by ({by(*group)}) (increase({sel(FEEDBACK, correct)}[{window}]))"
    return f"{right} / sum by ({by(*group)}) (increase({sel(FEEDBACK, NS_MODEL)}[{window}]))"


def burn_rate(ratio: str, slo: str) -> str:
    """A ratio per (namespace, model, version) as a burn rate of the model's error budget for `slo`."""
    return f"({ratio}) / on ({by(NAMESPACE, MODEL)}) group_left () (1 - {objective(slo)})"


def quantile(q: float, group: Sequence[str]) -> str:
    return f"histogram_quantile({q}, {rate(bucket(REQUEST_DURATION), [*group, LE])})"


def mean(histogram: str, group: Sequence[str]) -> str:
    return f"{rate(histogram_sum(histogram), group)} / {rate(histogram_count(histogram), group)}"


# ---- panels -----------------------------------------------------------------------------------


def target(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False, fmt: str = ""
) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    query = query.instant() if instant else query.range()
    if legend:
        query = query.legend_format(legend)
    if fmt:
        query = query.format(PromQueryFormat(fmt))
    return query


def graph(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], unit: str = "short", width: int = 12
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
    )


def threshold_steps(*steps: tuple[float | None, str]) -> gd.ThresholdsConfig:
    return (
        gd.ThresholdsConfig()
        .mode(gm.ThresholdsMode.ABSOLUTE)
        .steps([gm.Threshold(value=value, color=color) for value, color in steps])
    )


def merged_table(
    title: str, description: str, columns: Sequence[tuple[str, str, str]], labels: Mapping[str, str]
) -> table.Panel:
    """Instant queries (ref id, column title, expr), one per column, merged on their common labels.

    A query whose value says nothing (an info series' 1) has the title "": only its labels are
    shown, renamed by `labels` ({label: column title})."""
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets([target(expr, ref=ref, instant=True, fmt="table") for ref, _, expr in columns])
        .span(24)
        .height(9)
        .with_transformation(gm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            gm.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, **{f"Value #{ref}": True for ref, name, _ in columns if not name}},
                    "renameByName": {**labels, **{f"Value #{ref}": name for ref, name, _ in columns if name}},
                },
            )
        )
    )


class PrometheusAnnotation(gm.AnnotationQuery):
    """An annotation query of Grafana's Prometheus data source.

    The SDK's AnnotationQuery is the data-source-neutral model; the Prometheus data source also
    reads titleFormat, textFormat and tagKeys (legend templates over the series' labels), without
    which its annotations carry no title or text. They are added here, in the encoder's to_json.
    """

    def __init__(self, name: str, expr: str, *, color: str, title: str, text: str, tags: Sequence[str]) -> None:
        super().__init__(name=name, datasource=DATASOURCE, enable=True, icon_color=color, expr=expr)
        self.prometheus = {"titleFormat": title, "textFormat": text, "tagKeys": ",".join(tags), "step": "15s"}

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), **self.prometheus}


class Built(cogbuilder.Builder[gm.AnnotationQuery]):
    """A builder of a model made above (the dashboard builder takes builders)."""

    def __init__(self, model: gm.AnnotationQuery) -> None:
        self.model = model

    def build(self) -> gm.AnnotationQuery:
        return self.model


def query_variable(name: str, label: str, query: str, *, multi: bool) -> gd.QueryVariable:
    variable = (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        variable = variable.all_value(".*")
    return variable


def base(uid: str, title: str, description: str, *, multi: bool) -> gd.Dashboard:
    """A dashboard with the datasource, namespace and model variables and links to the other views."""
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(gm.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(
            query_variable("namespace", "Namespace", f"label_values({MODEL_INFO}, {NAMESPACE})", multi=multi)
        )
        .with_variable(query_variable("model", "Model", f"label_values({sel(MODEL_INFO, NS)}, {MODEL})", multi=multi))
        .link(
            gd.DashboardLink("modelops")
            .type(gm.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


# ---- the fleet view ---------------------------------------------------------------------------


def fleet() -> gd.Dashboard:
    budget = (
        f"1 - ({error_ratio([NAMESPACE, MODEL], '$slo_window')}) "
        f"/ on ({by(NAMESPACE, MODEL)}) (1 - {objective('availability')})"
    )
    watched = f"on ({by(NAMESPACE, NAME)}) group_left ({MODEL_DEPLOYMENT}) {sel(DRIFT_MONITOR_INFO, NS)}"
    drift_of = f"{sel(DRIFT_SHARE, NS)} * {watched}"
    drifted_of = f"{sel(DRIFT_DETECTED, NS)} * {watched}"
    selected = f"on ({by(NAMESPACE, NAME)}) {deployments()}"
    info = by(NAMESPACE, NAME, MODEL, STABLE_VERSION, CANARY_VERSION)
    columns = [
        ("A", "", f"max by ({info}) ({sel(DEPLOYMENT_INFO, NS_MODEL)})"),
        ("B", "", f"max by ({by(NAMESPACE, NAME, PHASE)}) ({sel(PHASE, NS)} == 1) and {selected}"),
        ("C", "canary weight %", f"max by ({by(NAMESPACE, NAME)}) ({sel(CANARY_WEIGHT, NS)}) and {selected}"),
        (
            "D",
            "availability budget left",
            f"max by ({by(NAMESPACE, NAME)}) (({budget}) * on ({by(NAMESPACE, MODEL)}) group_right () {deployments()})",
        ),
        ("E", "drift share", f"{to_deployment(drift_of)} and {selected}"),
        ("F", "drifted", f"{to_deployment(drifted_of)} and {selected}"),
        (
            "G",
            "last validated retrain",
            f"{to_deployment(sel(RETRAIN_LAST_FINISHED, NS, {OUTCOME: 'Validated'}))} * 1000 and {selected}",
        ),
        ("H", "last retrain run ended", f"{to_deployment(sel(RETRAIN_LAST_FINISHED, NS))} * 1000 and {selected}"),
    ]
    models = merged_table(
        "Models",
        "One row per ModelDeployment: its model, the versions in its status, its phase, the canary weight, the "
        "availability error budget left over $slo_window (all versions' 5xx answers against the objective), the "
        "share of features its DriftMonitors find drifting, and when its RetrainPolicy's newest runs ended.",
        columns,
        {NAME: "deployment", STABLE_VERSION: "stable", CANARY_VERSION: "canary", PHASE: "phase"},
    )
    for column in ("last validated retrain", "last retrain run ended"):
        models = models.override_by_name(column, [gm.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")])
    models = models.override_by_name(
        "availability budget left",
        [
            gm.DynamicConfigValue(id_val="unit", value="percentunit"),
            gm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
            gm.DynamicConfigValue(
                id_val="thresholds", value=threshold_steps((None, "red"), (0.25, "orange"), (0.5, "green")).build()
            ),
        ],
    ).override_by_name("drift share", [gm.DynamicConfigValue(id_val="unit", value="percentunit")])
    return (
        base(
            "modelops-fleet",
            "modelops / Fleet",
            "Every model the operator serves: versions, phase, error budget, drift, retraining.",
            multi=True,
        )
        .with_variable(
            gd.CustomVariable("slo_window")
            .label("SLO window")
            .values("30d,28d,7d,1d,1h")
            .current(gm.VariableOption(selected=True, text="30d", value="30d"))
        )
        .with_row(gd.Row("Models"))
        .with_panel(models)
        .with_row(gd.Row("Traffic"))
        .with_panel(
            graph(
                "Requests per second by model",
                "Answers of every version, any code.",
                [target(rate(REQUESTS, [NAMESPACE, MODEL]), "{{namespace}}/{{model}}")],
                "reqps",
            )
        )
        .with_panel(
            graph(
                "5xx ratio by model",
                "Answers with a 5xx code over all answers (the availability SLI).",
                [target(error_ratio([NAMESPACE, MODEL]), "{{namespace}}/{{model}}")],
                "percentunit",
            )
        )
        .with_panel(
            graph(
                "p99 latency by model",
                "From the modelops_request_duration_seconds histogram.",
                [target(quantile(0.99, [NAMESPACE, MODEL]), "{{namespace}}/{{model}}")],
                "s",
            )
        )
        .with_panel(
            graph(
                "Drift share by DriftMonitor",
                "Share of tested features (and predictions) drifting in each monitor's latest evaluation.",
                [target(of_monitors(sel(DRIFT_SHARE, NS)), "{{namespace}}/{{name}} ({{model}})")],
                "percentunit",
            )
        )
        .with_row(gd.Row("Operator"))
        .with_panel(
            graph(
                "Retraining runs ended, by outcome",
                "Runs that ended and triggers skipped, per hour, all RetrainPolicies (this counter has no "
                "namespace label).",
                [target(f"sum by ({by(OUTCOME)}) (increase({RETRAIN_RUNS}[1h]))", "{{outcome}}")],
                "short",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Reconciliations by kind and result",
                "The operator's passes per second; `error` means a pass raised and is retried with backoff.",
                [target(f"sum by ({by(KIND, RESULT)}) (rate({RECONCILES}[{RATE}]))", "{{kind}} {{result}}")],
                "ops",
                width=8,
            )
        )
        .with_panel(
            stat.Panel()
            .title("Resources refused (Accepted=False)")
            .description("Resources whose spec the operator cannot act on; `kubectl describe` names the field.")
            .datasource(DATASOURCE)
            .with_target(target(f"sum({sel(INVALID_RESOURCES, NS)}) or vector(0)", instant=True))
            .thresholds(threshold_steps((None, "green"), (1, "red")))
            .span(8)
            .height(8)
        )
    )


# ---- the on-call rollout view -----------------------------------------------------------------


def rollout() -> gd.Dashboard:
    version = [NAMESPACE, MODEL, VERSION]
    phase_changes = PrometheusAnnotation(
        "Phase",
        of_deployments(f"max by ({by(NAMESPACE, NAME, PHASE)}) ({sel(PHASE, NS)} == 1)"),
        color="purple",
        title="{{name}}: {{" + PHASE + "}}",
        text="{{name}} is {{" + PHASE + "}}",
        tags=[NAME, PHASE],
    )
    weight_steps = PrometheusAnnotation(
        "Canary weight steps",
        of_deployments(f"max by ({by(NAMESPACE, NAME)}) (changes({sel(CANARY_WEIGHT, NS)}[2m]) > 0)"),
        color="orange",
        title="{{name}}: canary weight changed",
        text="{{name}}: the canary weight changed (see the Canary weight panel)",
        tags=[NAME],
    )
    return (
        base(
            "modelops-rollout",
            "modelops / Rollout (on call)",
            "One model's versions side by side while a canary is judged: what the operator sees.",
            multi=False,
        )
        .with_variable(
            query_variable(
                "latency_le",
                "Latency SLO threshold (le)",
                f"label_values({sel(bucket(REQUEST_DURATION), NS_MODEL)}, {LE})",
                multi=False,
            ).current(gm.VariableOption(selected=True, text="0.25", value="0.25"))
        )
        .time("now-1h", "now")
        .annotation(Built(phase_changes))
        .annotation(Built(weight_steps))
        .with_row(gd.Row("Rollout"))
        .with_panel(
            graph(
                "Canary weight",
                "Percent of traffic the canary really receives (the replica ratio with the replicas router).",
                [target(of_deployments(sel(CANARY_WEIGHT, NS)), "{{name}}")],
                "percent",
                width=8,
            )
            .min(0)
            .max(100)
        )
        .with_panel(
            statetimeline.Panel()
            .title("Phase")
            .description(
                "The ModelDeployment's phase over time (Progressing, Paused, Promoting, Baking, RolledBack...)."
            )
            .datasource(DATASOURCE)
            .with_target(
                target(
                    of_deployments(f"max by ({by(NAMESPACE, NAME, PHASE)}) ({sel(PHASE, NS)} == 1)"),
                    "{{name}} {{" + PHASE + "}}",
                )
            )
            .span(8)
            .height(8)
        )
        .with_panel(
            table.Panel()
            .title("Versions")
            .description("The stable and canary versions in each ModelDeployment's status.")
            .datasource(DATASOURCE)
            .with_target(
                target(
                    f"max by ({by(NAME, STABLE_VERSION, CANARY_VERSION)}) ({sel(DEPLOYMENT_INFO, NS_MODEL)})",
                    instant=True,
                    fmt="table",
                )
            )
            .with_transformation(
                gm.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True, "Value": True}})
            )
            .span(8)
            .height(8)
        )
        .with_row(gd.Row("Canary vs stable, by version"))
        .with_panel(
            graph(
                "Requests per second by version",
                "Answers of each version, any code.",
                [target(rate(REQUESTS, version), "{{version}}")],
                "reqps",
                width=8,
            )
        )
        .with_panel(
            graph(
                "5xx ratio by version",
                "The availability SLI of each version.",
                [target(error_ratio(version), "{{version}}")],
                "percentunit",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Invalid requests per second by version",
                "Requests refused for their input (see the debug view for the reasons).",
                [target(rate(INVALID_REQUESTS, version), "{{version}}")],
                "reqps",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Latency p50 / p99 by version",
                "From the modelops_request_duration_seconds histogram.",
                [
                    target(quantile(0.5, version), "{{version}} p50", "A"),
                    target(quantile(0.99, version), "{{version}} p99", "B"),
                ],
                "s",
            )
        )
        .with_panel(
            graph(
                "Mean latency by version",
                "_sum / _count: what latency-vs-stable compares (with its rank test).",
                [target(mean(REQUEST_DURATION, version), "{{version}}")],
                "s",
            )
        )
        .with_row(gd.Row("Quality on labels"))
        .with_panel(
            graph(
                "Stable quality vs objective",
                "status.quality.value of each ModelDeployment (spec.analysis.slo.quality: its metric over its "
                "window), shown only with at least minLabels labels, and the objective ModelopsQualityBelowObjective "
                "compares it with.",
                [
                    target(of_deployments(sel(QUALITY_RATIO, NS)), "{{name}} {{metric}}", "A"),
                    target(of_deployments(sel(SLO_OBJECTIVE, NS, {SLO: "quality"})), "{{name}} objective", "B"),
                ],
                "percentunit",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Accuracy on labels by version (1h)",
                "Correct share of the labels each version received over the last hour (the servers' "
                "modelops_feedback_total at the serving threshold): what the canary's quality checks compare.",
                [target(accuracy(version, "1h"), "{{version}}")],
                "percentunit",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Labels and label lag",
                "Labels per second each version receives, and the 90th percentile of the time from prediction to "
                "label (how stale the quality figure is) from the operator's status.quality.",
                [
                    target(rate(FEEDBACK, version), "{{version}} labels/s", "A"),
                    target(of_deployments(sel(QUALITY_LABEL_LAG, NS)), "{{name}} lag p90 (s)", "B"),
                ],
                width=8,
            )
        )
        .with_row(gd.Row("Burn rates"))
        .with_panel(
            graph(
                "Availability burn rate by version (5m, 1h)",
                "5xx ratio over the error budget (1 - objective). The page pair for a 30-day SLO is 14.4 over "
                "both 5m and 1h; the canary check's default maxBurnRate is 14.4 too.",
                [
                    target(burn_rate(error_ratio(version, "5m"), "availability"), "{{version}} 5m", "A"),
                    target(burn_rate(error_ratio(version, "1h"), "availability"), "{{version}} 1h", "B"),
                ],
            )
            .thresholds(threshold_steps((None, "green"), (14.4, "red")))
            .thresholds_style(gc.GraphThresholdsStyleConfig().mode(gcm.GraphThresholdsStyleMode.LINE))
        )
        .with_panel(
            graph(
                "Latency burn rate by version (5m, 1h)",
                "Share of answers slower than $latency_le s over the latency budget. Set the threshold "
                "variable to spec.analysis.slo.latency.thresholdSeconds.",
                [
                    target(burn_rate(slow_ratio(version, "5m"), "latency"), "{{version}} 5m", "A"),
                    target(burn_rate(slow_ratio(version, "1h"), "latency"), "{{version}} 1h", "B"),
                ],
            )
            .thresholds(threshold_steps((None, "green"), (14.4, "red")))
            .thresholds_style(gc.GraphThresholdsStyleConfig().mode(gcm.GraphThresholdsStyleMode.LINE))
        )
    )


# ---- the debugging view -----------------------------------------------------------------------


def debug() -> gd.Dashboard:
    selected = {**NS_MODEL, VERSION: "$version"}

    def per_version(metric: str, group: Sequence[str]) -> str:
        return f"sum by ({by(*group)}) (rate({sel(metric, selected)}[{RATE}]))"

    feature_buckets = selector(bucket(FEATURE_VALUE), regex={**selected, FEATURE: "$feature"})
    prediction_buckets = selector(bucket(PREDICTION_SCORE), regex=selected)
    return (
        base(
            "modelops-debug",
            "modelops / Debug",
            "Why a model drifted or refuses requests: per-feature drift, distributions, invalid requests.",
            multi=False,
        )
        .with_variable(
            query_variable("version", "Version", f"label_values({sel(MODEL_INFO, NS_MODEL)}, {VERSION})", multi=True)
        )
        .with_variable(
            query_variable(
                "feature",
                "Feature",
                f"label_values({sel(bucket(FEATURE_VALUE), NS_MODEL)}, {FEATURE})",
                multi=True,
            )
        )
        .with_row(gd.Row("Drift"))
        .with_panel(
            graph(
                "Drift score (PSI) per feature",
                "PSI of each tested feature and of the predictions (__prediction__) in the latest evaluation of "
                "the DriftMonitors watching this model. A feature drifts when its corrected p-value is below alpha "
                "and its PSI is at least the effect floor (0.1 by default): see docs/drift.md.",
                [target(of_monitors(sel(DRIFT_SCORE, NS)), "{{name}} {{feature}}")],
            )
        )
        .with_panel(
            graph(
                "Drift share and verdict",
                "Share of tested features drifting, and 1 while the monitor says Drifted (after hysteresis).",
                [
                    target(of_monitors(sel(DRIFT_SHARE, NS)), "{{name}} share", "A"),
                    target(of_monitors(sel(DRIFT_DETECTED, NS)), "{{name}} drifted", "B"),
                ],
                width=6,
            )
        )
        .with_panel(
            graph(
                "Drift evaluations by result",
                "drifted, clean, insufficient (too few samples) or blocked (could not evaluate), per hour.",
                [
                    target(
                        f"sum by ({by(NAMESPACE, NAME, RESULT)}) (increase({sel(DRIFT_EVALUATIONS, NS)}[1h])) "
                        f"* on ({by(NAMESPACE, NAME)}) group_left () max by ({by(NAMESPACE, NAME)}) ({monitors()})",
                        "{{name}} {{result}}",
                    )
                ],
                width=6,
            )
        )
        .with_row(gd.Row("Inputs and predictions"))
        .with_panel(
            heatmap.Panel()
            .title("Feature $feature: live distribution")
            .description(
                "Observations per bucket of modelops_feature_value; the edges are the training baseline's "
                "quantiles, so a feature that did not drift fills every bucket about equally."
            )
            .datasource(DATASOURCE)
            .with_target(target(f"sum by ({LE}) (increase({feature_buckets}[{RATE}]))", "{{le}}", fmt="heatmap"))
            .repeat("feature")
            .repeat_direction("h")
            .max_per_row(3)
            .span(8)
            .height(8)
        )
        .with_panel(
            graph(
                "Feature medians by version",
                "Median of each numeric feature per version, estimated from the buckets (histogram_quantile): a "
                "shift shows here first. From the buckets, not _sum / _count: a histogram whose first edge is "
                "negative has no _sum and _count series (docs/telemetry.md).",
                [
                    target(
                        f"histogram_quantile(0.5, sum by ({by(VERSION, FEATURE, LE)}) "
                        f"(rate({feature_buckets}[{RATE}])))",
                        "{{version}} {{feature}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Categorical features",
                "Values per second of each category (categories outside the baseline count as __other__).",
                [
                    target(
                        per_version(FEATURE_CATEGORY, [VERSION, FEATURE, CATEGORY]),
                        "{{version}} {{feature}}={{category}}",
                    )
                ],
            )
        )
        .with_panel(
            heatmap.Panel()
            .title("Prediction distribution")
            .description("Scores per bucket of modelops_prediction, all selected versions.")
            .datasource(DATASOURCE)
            .with_target(target(f"sum by ({LE}) (increase({prediction_buckets}[{RATE}]))", "{{le}}", fmt="heatmap"))
            .span(12)
            .height(8)
        )
        .with_panel(
            graph(
                "Mean prediction by version",
                "Mean score per version (_sum / _count).",
                [
                    target(
                        f"{per_version(histogram_sum(PREDICTION_SCORE), [VERSION])} "
                        f"/ {per_version(histogram_count(PREDICTION_SCORE), [VERSION])}",
                        "{{version}}",
                    )
                ],
            )
        )
        .with_panel(
            graph(
                "Predicted classes",
                "Classes per second, for classifiers that emit labels.",
                [target(per_version(PREDICTION_CLASS, [VERSION, CLASS]), "{{version}} {{class}}")],
            )
        )
        .with_row(gd.Row("Requests"))
        .with_panel(
            graph(
                "Invalid requests by reason",
                "Requests refused for their input, per second, by reason and version (bad_json, missing_feature, "
                "unknown_input, wrong_type, nan...): the reason usually says what a client or a new version changed.",
                [target(per_version(INVALID_REQUESTS, [VERSION, REASON]), "{{version}} {{reason}}")],
                "reqps",
            )
        )
        .with_panel(
            graph(
                "Answers by code",
                "Answers per second by HTTP status code and version.",
                [target(per_version(REQUESTS, [VERSION, CODE]), "{{version}} {{code}}")],
                "reqps",
            )
        )
        .with_panel(
            table.Panel()
            .title("Artifacts served")
            .description("Pods per version and artifact (modelops_model_info): the URI and checksum each serves.")
            .datasource(DATASOURCE)
            .with_target(
                target(
                    f"count by ({by(VERSION, VARIANT, URI, SHA256)}) ({selector(MODEL_INFO, regex=selected)})",
                    instant=True,
                    fmt="table",
                )
            )
            .with_transformation(
                gm.DataTransformerConfig(
                    id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": {"Value": "pods"}}
                )
            )
            .span(24)
            .height(6)
        )
    )


# ---- files ------------------------------------------------------------------------------------

DASHBOARDS = {"modelops-fleet.json": fleet, "modelops-rollout.json": rollout, "modelops-debug.json": debug}


def to_dict(board: gd.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (through the SDK's own encoder), panels numbered 1, 2, ..."""
    built = board.build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    loaded: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return loaded


def render_all() -> dict[str, str]:
    """{file name: JSON text} of every dashboard, deterministic (sorted keys, two-space indent)."""
    return {name: json.dumps(to_dict(build()), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def stale(directory: Path) -> list[str]:
    """Files in `directory` that differ from (or are missing versus) the generated dashboards."""
    return [
        name
        for name, text in render_all().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(where, expr, instant) of every PromQL query in a dashboard's JSON: panel targets and annotations."""
    panels = board.get("panels", [])
    for panel in [*panels, *(inner for row in panels for inner in row.get("panels", []))]:
        for query in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} {query.get('refId')}", query["expr"], bool(query.get("instant"))
    for annotation in board.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"], False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelops_devcluster dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, help="write the dashboards' JSON here")
    parser.add_argument("--check", type=Path, help="exit 1 if the JSON here differs from what the code generates")
    args = parser.parse_args(argv)
    if args.check is not None:
        bad = stale(args.check)
        for name in bad:
            print(f"out of date: {args.check / name} (run `make dashboards`)", file=sys.stderr)
        return 1 if bad else 0
    out: Path = args.out or CHART_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0
