"""Logs, metrics and traces: one structured logger, CloudWatch EMF metrics and X-Ray traces for every function
(docs/architecture.md, "Observability").

- ``log``: the process's one powertools ``Logger`` (JSON lines on stdout; the function's name is its ``service``).
  Product code logs through it, never through ``logging`` directly, so every line is structured and carries the
  invocation's correlation id.
- ``count`` / ``measure``: one EMF line per metric (``single_metric``), named and dimensioned as
  ``oncall.domain.metrics.EMF`` declares, with identifiers (incident, service) as EMF properties rather than
  dimensions: searchable in Logs Insights, at no metric cost.
- ``handler``: what wraps every function's entry point: correlation id and Lambda context on the logger, the
  ``ColdStart`` metric, ``HandlerErrors`` when it raises, and the X-Ray trace when tracing is on.
- ``span`` / ``annotate``: X-Ray subsegments and annotations, no-ops when tracing is off (locally, the runner sets
  ``POWERTOOLS_TRACE_DISABLED``), because the tracer is created only when it traces: importing the X-Ray SDK costs
  ~0.3 s of cold start that a function with tracing off should not pay.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools import Logger

from oncall.domain.metrics import EMF_BY_NAME, STACK_WIDE

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "OnCallHub"

#: the one logger; ``POWERTOOLS_SERVICE_NAME`` (the function) names it, ``POWERTOOLS_LOG_LEVEL`` sets its level
log = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "oncall", use_rfc3339=True)

_tracer: Any = None
_tracing: bool | None = None


def tracing() -> bool:
    """Whether this process traces: deployed with active tracing, not locally and not in tests."""
    global _tracing
    if _tracing is None:
        disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
        _tracing = not disabled and bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    return _tracing


def tracer() -> Any:
    """powertools ``Tracer`` (patches botocore and requests, so every DynamoDB, Step Functions and HTTP call is a
    subsegment), or None when this process does not trace."""
    global _tracer
    if _tracer is None and tracing():
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def annotate(**values: str | int | None) -> None:
    """X-Ray annotations (indexed, searchable: ``annotation.incident_id = "..."``) on the current segment."""
    t = tracer()
    if t is None:
        return
    for key, value in values.items():
        if value is not None:
            with contextlib.suppress(Exception):  # no open segment (outside a handler): nothing to annotate
                t.put_annotation(key=key, value=value)


@contextlib.contextmanager
def span(name: str, **annotations: str | int | None) -> Iterator[None]:
    """A named X-Ray subsegment around a step that matters (a page's delivery, a state machine start)."""
    t = tracer()
    if t is None:
        yield
        return
    with t.provider.in_subsegment(f"## {name}") as sub:
        for key, value in annotations.items():
            if value is not None:
                sub.put_annotation(key, value)
        yield


#: the technical metrics ``ONCALL_METRICS_EMF=business`` leaves out
TECHNICAL = frozenset({"ColdStart", "HandlerErrors"})


def _wanted(name: str) -> bool:
    from oncall.settings import MetricsSettings, load

    level = load(MetricsSettings).emf
    return level == "all" or (level == "business" and name not in TECHNICAL)


def _emit(name: str, value: float, dimensions: dict[str, str], properties: dict[str, Any]) -> None:
    from aws_lambda_powertools.metrics import single_metric

    spec = EMF_BY_NAME[name]
    if set(dimensions) != set(spec.dimensions):
        raise ValueError(f"metric {name} takes the dimensions {spec.dimensions}, not {tuple(dimensions)}")
    if not _wanted(name):
        return
    try:
        with single_metric(name=name, unit=spec.unit, value=value, namespace=NAMESPACE) as metric:  # type: ignore[arg-type]
            if name in TECHNICAL:
                # one metric for the whole stack (``service`` = ``oncall``), not one per function: CloudWatch bills
                # each; the function is a property
                metric.service = STACK_WIDE
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=str(dim) or "none")
            for key, prop in properties.items():
                if prop is not None:
                    metric.add_metadata(key=key, value=prop)
    except Exception:  # a metric must never fail what it measures
        log.exception("metric %s could not be emitted", name)


def count(name: str, value: int = 1, /, properties: dict[str, Any] | None = None, **dimensions: str) -> None:
    """Emit the counter ``name`` (declared in ``oncall.domain.metrics.EMF``)."""
    if value:
        _emit(name, value, dimensions, properties or {})


def measure(name: str, value: float, /, properties: dict[str, Any] | None = None, **dimensions: str) -> None:
    """Emit the measurement ``name`` (a duration, ...), declared in ``oncall.domain.metrics.EMF``."""
    _emit(name, value, dimensions, properties or {})


_cold = True


def handler[F: Callable[..., Any]](fn: F) -> F:
    """Wrap a function's entry point (see the module docstring)."""
    return _wrap(fn, None)


def correlated(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``handler`` whose log lines carry the correlation id found at ``path`` (a JMESPath into the event), as
    powertools' ``inject_lambda_context`` takes it."""
    return lambda fn: _wrap(fn, path)


def _wrap[F: Callable[..., Any]](fn: F, correlation_id_path: str | None) -> F:
    logged = log.inject_lambda_context(fn, correlation_id_path=correlation_id_path, clear_state=True)

    @functools.wraps(fn)
    def wrapper(event: Any, context: Any) -> Any:
        global _cold
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or log.service
        if _cold:
            _cold = False
            count("ColdStart", properties={"function": function})
        # a caller without a Lambda context (a script driving the handler) gets the same logic, unlabelled
        call = logged if hasattr(context, "aws_request_id") else fn
        try:
            t = tracer()
            if t is None:
                return call(event, context)
            return t.capture_lambda_handler(call, capture_response=False)(event, context)
        except Exception:
            count("HandlerErrors", properties={"function": function})
            raise

    return wrapper  # type: ignore[return-value]
