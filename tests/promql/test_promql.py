from __future__ import annotations

from datetime import timedelta

import pytest

from modelops.promql import sli
from modelops.promql.expr import TemplateError, duration, escape_label_value, render_template, selector


def test_label_values_cannot_break_out() -> None:
    nasty = 'x"} or vector(1) or up{a="'
    sel = selector("modelops_requests_total", {"model": nasty})
    assert sel == 'modelops_requests_total{model="x\\"} or vector(1) or up{a=\\""}'
    assert escape_label_value("a\\b\nc") == "a\\\\b\\nc"


def test_regex_matchers_and_invalid_names() -> None:
    assert selector("m", {"a": "1"}, regex={"code": "5.."}) == 'm{a="1",code=~"5.."}'
    with pytest.raises(ValueError, match="invalid label name"):
        selector("m", {"bad-name": "x"})
    with pytest.raises(ValueError, match="invalid metric name"):
        selector("m{}", {})


def test_templates_substitute_known_variables_escaped() -> None:
    out = render_template(
        'sum(rate(x{namespace="{{namespace}}",model="{{ model }}"}[{{interval}}]))',
        {"namespace": "ml", "model": 'a"b', "interval": "1m"},
    )
    assert out == 'sum(rate(x{namespace="ml",model="a\\"b"}[1m]))'


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{modle}}", "unknown variable {{modle}}"),
        ("{{version}}", "has no value"),
        ("[{{interval}}]", "not a PromQL duration"),
    ],
)
def test_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_template(template, {"interval": "1m) or vector(1"} if "interval" in template else {})


def test_duration() -> None:
    assert [duration(timedelta(seconds=s)) for s in (30, 300, 3600, 7200, 86400 * 3, 90)] == [
        "30s",
        "5m",
        "1h",
        "2h",
        "3d",
        "90s",
    ]


def test_invalid_requests_received_counts_path_refusals_once_and_escapes_labels() -> None:
    labels = {"model": 'fr"aud', "version": "v2"}
    q = sli.invalid_requests(labels, timedelta(seconds=90))
    assert q.bad == 'sum by (reason) (increase(modelops_invalid_requests_total{model="fr\\"aud",version="v2"}[90s]))'
    assert q.total == (
        'sum(increase(modelops_requests_total{model="fr\\"aud",version="v2",code!~"404|499"}[90s])) + '
        '(sum(increase(modelops_invalid_requests_total{model="fr\\"aud",version="v2",reason="unknown_model"}[90s]))'
        " or vector(0))"
    )


def test_availability_counts_this_models_answered_requests() -> None:
    """404 (another model's or version's URL) and 499 (the client left before it was read) are in
    modelops_requests_total but are not requests this model answered: neither good nor bad events."""
    q = sli.availability({"model": "m"}, timedelta(minutes=5))
    assert q.bad == 'sum(increase(modelops_requests_total{model="m",code=~"5.."}[5m]))'
    assert q.total == 'sum(increase(modelops_requests_total{model="m",code!~"404|499"}[5m]))'
    assert selector("m", exclude_regex={"code": "4.."}) == 'm{code!~"4.."}'
