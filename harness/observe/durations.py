"""Seconds as the duration strings Prometheus and Alertmanager read."""

from harness.errors import ConfigError

# Both tools parse durations with the same grammar (a whole number per unit,
# units down to "ms"), so a fraction of a second must become milliseconds.
_MS_PER_S = 1000


def render_duration(seconds: float, field: str) -> str:
    """Render seconds as "1s" or "100ms"; refuse what the tools cannot read."""
    if seconds < 0:
        raise ConfigError(
            f"field '{field}' is {seconds!r}; expected a number of seconds >= 0"
        )
    milliseconds = round(seconds * _MS_PER_S)
    if abs(milliseconds - seconds * _MS_PER_S) > 1e-6:
        raise ConfigError(
            f"field '{field}' is {seconds!r}; expected a whole number of "
            "milliseconds, such as 0.1 or 1.5, because Prometheus and "
            "Alertmanager durations stop at ms"
        )
    if milliseconds % _MS_PER_S == 0:
        return f"{milliseconds // _MS_PER_S}s"
    return f"{milliseconds}ms"


_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def compact_duration(seconds: float, field: str) -> str:
    """Like render_duration, in the largest whole unit: 3600 -> "1h", 90 -> "90s"."""
    render_duration(seconds, field)
    milliseconds = round(seconds * _MS_PER_S)
    if milliseconds == 0:
        return "0s"
    for unit, size in _UNITS:
        if milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    raise AssertionError("every whole number of ms has a unit")
