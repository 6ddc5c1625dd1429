"""Load: Locust user journeys and the runner that starts them in their own process.

- settings: what load to offer and where (checked before anything starts)
- arrivals: the open-model schedule of journey start times
- journeys: the locustfile; it runs only inside the `locust` process
- runner: LoadRun, which starts and stops that process
- results: LoadResult, read back from the files Locust wrote

Nothing is imported here: the locustfile imports harness.load.settings inside
the gevent-based Locust process, which must not pull in the harness's other
dependencies on the way.
"""
