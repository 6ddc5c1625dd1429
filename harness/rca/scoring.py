"""Compare a guess with the faults a run injected, after the guess was made.

Ground truth per fault:

- a network fault on route "A_to_B" -> component B, via that route (B may be
  an external such as fraud-detection; a front route client_to_B names B);
- an application or process fault on service S -> component S (via is not
  part of the truth: the trouble reaches its callers on every route);
- a latency fault below NEGLIGIBLE_LATENCY_MS (a control run's stand-in) ->
  nothing broken (component None).

A guess is correct when its component is the truth of an injected fault and,
for a route fault, its via names that route. When every injected fault is
negligible, a guess of "nothing is broken" is correct and any other wrong.
When nothing was injected (the run stopped before its first fault), correct
is None: there is nothing to be right about.

The analysis names one component per run, so with several faults it is
right when it names any one of them.
"""

from collections.abc import Iterable

# Below the smallest histogram bucket (5 ms): no SLI can tell it from noise.
NEGLIGIBLE_LATENCY_MS = 5.0
ROUTE_SEPARATOR = "_to_"


def injected_faults(events: Iterable[dict]) -> list[dict]:
    """Each fault_injected event of a journal, with the component it broke."""
    injected = []
    for event in events:
        if event.get("kind") != "fault_injected":
            continue
        fields = event.get("fields", {})
        route, service = fields.get("route") or None, fields.get("service") or None
        injected.append(
            {
                "fault": fields.get("fault"),
                "kind": fields.get("kind"),
                "route": route,
                "service": service,
                "component": truth_component(fields),
            }
        )
    return injected


def truth_component(fields: dict) -> str | None:
    """The component a fault breaks, or None for a negligible one."""
    if fields.get("kind") == "latency":
        delay_ms = float(fields.get("latency_ms") or 0) + float(
            fields.get("jitter_ms") or 0
        )
        if delay_ms < NEGLIGIBLE_LATENCY_MS:
            return None
    route = fields.get("route")
    if route:
        if ROUTE_SEPARATOR not in route:
            raise ValueError(
                f"fault route {route!r} is not of the form <caller>_to_<callee>"
            )
        return route.split(ROUTE_SEPARATOR, 1)[1]
    service = fields.get("service")
    if not service:
        raise ValueError(
            f"fault {fields.get('fault')!r} names neither a route nor a service"
        )
    return service


def is_correct(guess: dict, injected: list[dict]) -> bool | None:
    """Whether the guess names a broken component (see the module docstring)."""
    if not injected:
        return None
    broken = [fault for fault in injected if fault["component"] is not None]
    if not broken:
        return guess.get("component") is None
    return any(_matches(guess, fault) for fault in broken)


def _matches(guess: dict, fault: dict) -> bool:
    if guess.get("component") != fault["component"]:
        return False
    return fault["route"] is None or guess.get("via") == fault["route"]


def scored(analysis: dict, events: Iterable[dict]) -> dict:
    """The analysis with the injected faults and whether it was right."""
    injected = injected_faults(events)
    return {
        **analysis,
        "injected": injected,
        "correct": is_correct(analysis["guess"], injected),
    }


def rca_accuracy(journals: Iterable[dict]) -> tuple[int, int]:
    """(right, total) over journals whose rca was scored (correct not None)."""
    right = total = 0
    for journal in journals:
        correct = (journal.get("rca") or {}).get("correct")
        if correct is None:
            continue
        total += 1
        right += bool(correct)
    return right, total
