"""Network faults on one proxy route, through the Toxiproxy API.

latency, reset, blackhole and bandwidth are toxics named after the fault;
outage disables the route. Each is read back from the proxy exactly as
applied, and shows in the embedded proxy's toxiproxy_proxy_toxics_active.
"""

from harness.proxy.client import ToxiproxyClient

# Toxic type, the stream it acts on, and its Toxiproxy attributes per kind.
# reset and blackhole act on the request (upstream), so no answer comes back;
# latency and bandwidth act on the answer (downstream).
_TOXICS = {
    "latency": (
        "latency",
        "downstream",
        lambda a: {"latency": int(a["latency_ms"]), "jitter": int(a["jitter_ms"])},
    ),
    "reset": ("reset_peer", "upstream", lambda a: {"timeout": 0}),
    "blackhole": ("timeout", "upstream", lambda a: {"timeout": 0}),
    "bandwidth": ("bandwidth", "downstream", lambda a: {"rate": a["rate_kbps"]}),
}


def toxic_name(fault) -> str:
    """The toxic's name on the proxy, which marks it as this harness's."""
    return f"harness-{fault.name}"


class NetworkFaults:
    """Applies, reads back and removes network faults on the routes of one proxy."""

    family = "network"

    def __init__(self, proxy: ToxiproxyClient):
        self.proxy = proxy
        self._outages: set[str] = set()

    def undo_record(self, fault) -> dict:
        toxic = None if fault.kind == "outage" else toxic_name(fault)
        return {"proxy_api": self.proxy.base_url, "route": fault.route, "toxic": toxic}

    def apply(self, fault) -> dict:
        if fault.kind == "outage":
            self.proxy.update_proxy(fault.route, enabled=False)
            self._outages.add(fault.route)
            return {}
        toxic_type, stream, attributes = _TOXICS[fault.kind]
        self.proxy.add_toxic(
            fault.route,
            toxic_type,
            name=toxic_name(fault),
            stream=stream,
            attributes=attributes(fault.attributes),
        )
        return {}

    def drift(self, fault, applied: dict) -> str | None:
        """None when the proxy holds the fault exactly as applied; else what differs.

        A fault changed behind the harness's back (a toxic's attributes, a
        route disabled or enabled) is as much not this experiment's fault as
        one removed.
        """
        proxy = self.proxy.get_proxy(fault.route)
        if fault.kind == "outage":
            return None if proxy["enabled"] is False else "the route is enabled"
        if proxy["enabled"] is False and fault.route not in self._outages:
            return "the route was disabled"
        name = toxic_name(fault)
        toxic = next((t for t in proxy["toxics"] if t["name"] == name), None)
        if toxic is None:
            return f"toxic {name} is gone"
        toxic_type, stream, attributes = _TOXICS[fault.kind]
        expected = {
            "type": toxic_type,
            "stream": stream,
            "toxicity": 1.0,
            "attributes": attributes(fault.attributes),
        }
        found = {key: toxic.get(key) for key in expected}
        if found != expected:
            return f"toxic {name} is now {found}, applied as {expected}"
        return None

    def gone(self, fault, applied: dict) -> bool:
        proxy = self.proxy.get_proxy(fault.route)
        if fault.kind == "outage":
            return proxy["enabled"] is True
        return all(t["name"] != toxic_name(fault) for t in proxy["toxics"])

    def take_off(self, fault, applied: dict) -> dict:
        if fault.kind == "outage":
            self.proxy.update_proxy(fault.route, enabled=True)
            self._outages.discard(fault.route)
        else:
            self.proxy.remove_toxic(fault.route, toxic_name(fault))
        return {}

    def forget(self, fault) -> None:
        if fault.kind == "outage":
            self._outages.discard(fault.route)

    def effect_query(self, fault) -> tuple[str, str] | None:
        """What Prometheus shows of the fault; None for an outage (echo only)."""
        if fault.kind == "outage":
            return None
        toxic_type = _TOXICS[fault.kind][0]
        return (
            f'max(toxiproxy_proxy_toxics_active{{proxy="{fault.route}",'
            f'type="{toxic_type}"}}) >= 1',
            "fault-proxy",
        )
