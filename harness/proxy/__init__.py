"""The embedded fault proxy: a Toxiproxy-compatible server and the harness's client.

    server.py       the process: control API, proxies, metrics; serve()
    api.py          Toxiproxy's HTTP paths, JSON shapes and status codes
    collection.py   the proxies of a server, changed by whole checked requests
    proxy.py        one proxy: listener, upstream, toxics, open connections
    link.py         the byte path of a connection through its toxics
    toxics.py       the toxics, typed values looked up by name in TOXIC_TYPES
    addresses.py    "host:port" parsing and binding
    metrics.py      Prometheus collector over the proxies
    errors.py       the API's refusals with their HTTP statuses
    client.py       ToxiproxyClient, used by the harness for this server or
                    the real toxiproxy-server alike

Nothing is imported here: the server process loads only what it runs, and the
server never imports the rest of the harness.
"""
