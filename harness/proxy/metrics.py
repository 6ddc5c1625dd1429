"""Prometheus metrics of the fault proxy, read from the proxies at scrape time.

The byte counters keep Toxiproxy's names and labels, so dashboards written for
Toxiproxy work unchanged; the connection and toxic series are this proxy's own.
Reading at scrape time means a deleted proxy leaves no stale series behind,
unlike Toxiproxy; a proxy's byte counts go on under its new labels when its
listen or upstream address changes, where Toxiproxy's start again from 0.
"""

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.proxy.collection import ProxyCollection
from harness.proxy.proxy import Proxy
from harness.proxy.toxics import TOXIC_TYPES, Direction

LINK_LABELS = ["direction", "proxy", "listener", "upstream"]
PROXY_LABELS = ["proxy", "listener", "upstream"]


class ProxyMetrics(Collector):
    """Collects traffic, connections and active toxics of every proxy."""

    def __init__(self, proxies: ProxyCollection):
        self._proxies = proxies

    def collect(self) -> Iterator[Metric]:
        families = _families()
        for proxy in self._proxies.all():
            _add_proxy(families, proxy)
        yield from families.values()


def _families() -> dict[str, Metric]:
    return {
        "received": CounterMetricFamily(
            "toxiproxy_proxy_received_bytes",
            "Bytes read by a proxy, per direction.",
            labels=LINK_LABELS,
        ),
        "sent": CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes",
            "Bytes written by a proxy after its toxics, per direction.",
            labels=LINK_LABELS,
        ),
        "accepted": CounterMetricFamily(
            "toxiproxy_proxy_connections",
            "Client connections a proxy accepted.",
            labels=PROXY_LABELS,
        ),
        "open": GaugeMetricFamily(
            "toxiproxy_proxy_open_connections",
            "Client connections a proxy is carrying now.",
            labels=PROXY_LABELS,
        ),
        "toxics": GaugeMetricFamily(
            "toxiproxy_proxy_toxics_active",
            "Toxics installed on a proxy, per toxic type.",
            labels=["proxy", "type"],
        ),
    }


def _add_proxy(families: dict[str, Metric], proxy: Proxy) -> None:
    where = [proxy.name, proxy.listen, proxy.upstream]
    for direction in Direction:
        link = [direction.value, *where]
        families["received"].add_metric(link, proxy.stats.received_bytes[direction])
        families["sent"].add_metric(link, proxy.stats.sent_bytes[direction])
    families["accepted"].add_metric(where, proxy.stats.connections_total)
    families["open"].add_metric(where, proxy.open_connections)

    counts = Counter(toxic.toxic.type_name for toxic in proxy.toxics())
    for type_name in sorted(TOXIC_TYPES):
        families["toxics"].add_metric([proxy.name, type_name], counts[type_name])
