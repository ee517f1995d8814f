"""Prometheus metrics: RPC counts and latencies, plus gauges each service samples from its store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class Sample:
    """One gauge reading, e.g. orders{status="PAID"} = 12."""

    name: str
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


Sampler = Callable[[], Awaitable[Sequence[Sample]]]


class _LatestSamples(Collector):
    """Exposes the samples taken last (scrapes never wait on a store)."""

    def __init__(self, service: str) -> None:
        self._service = service
        self.samples: Sequence[Sample] = ()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for sample in self.samples:
            labels = {"service": self._service, **sample.labels}
            family = families.get(sample.name)
            if family is None:
                family = GaugeMetricFamily(sample.name, sample.help, labels=list(labels))
                families[sample.name] = family
            family.add_metric(list(labels.values()), sample.value)
        yield from families.values()


class Metrics:
    """One service's metrics, in a registry of its own."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self._rpcs = Counter(
            "estore_rpc_requests",
            "RPCs handled, by method and status code",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "estore_rpc_duration_seconds",
            "RPC handling time, by method",
            ["service", "method"],
            registry=self.registry,
        )
        self._counted: dict[tuple[str, str], Counter] = {}
        self._timed: dict[str, Histogram] = {}
        self._latest = _LatestSamples(service)
        self.registry.register(self._latest)
        self._http: tuple[WSGIServer, Thread] | None = None

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        # Each method's (and code's) labelled child is looked up once, not on every call.
        counted = self._counted.get((method, code))
        if counted is None:
            counted = self._counted[method, code] = self._rpcs.labels(self.service, method, code)
        timed = self._timed.get(method)
        if timed is None:
            timed = self._timed[method] = self._latency.labels(self.service, method)
        counted.inc()
        timed.observe(seconds)

    def set_samples(self, samples: Sequence[Sample]) -> None:
        self._latest.samples = tuple(samples)

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks one)."""
        self._http = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http[0].server_port)

    def close(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._http = None
