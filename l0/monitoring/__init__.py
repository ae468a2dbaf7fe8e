"""Monitoring sinks: give any of them to ``on_event`` (of :func:`l0.run` or :func:`l0.session`).

* :class:`Metrics`: in-process counters and latency summaries, ``snapshot()`` / ``reset()``;
* :class:`Logging`: structured :mod:`logging` records;
* :class:`OpenTelemetry`: spans and GenAI metrics (extra ``l0[otel]``);
* :class:`Sentry`: breadcrumbs, transactions and final errors (extra ``l0[sentry]``);
* :func:`combine`: several sinks as one.

Nothing here imports OpenTelemetry or Sentry until you create their sink. No sink records
prompt or output text unless you pass ``record_content=True``.
"""

from l0.monitoring._logging import Logging as Logging
from l0.monitoring._metrics import Metrics as Metrics
from l0.monitoring._metrics import MetricsSnapshot as MetricsSnapshot
from l0.monitoring._otel import OpenTelemetry as OpenTelemetry
from l0.monitoring._sentry import Sentry as Sentry
from l0.monitoring._sink import Sink as Sink
from l0.monitoring._sink import combine as combine
from l0.monitoring._summary import Summary as Summary

__all__ = [
    "Logging",
    "Metrics",
    "MetricsSnapshot",
    "OpenTelemetry",
    "Sentry",
    "Sink",
    "Summary",
    "combine",
]


def _fixup_module_metadata() -> None:
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith("l0.monitoring._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - some objects refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
