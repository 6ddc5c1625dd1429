"""Prometheus rules as values: what a generator returns and a rule file holds."""

from dataclasses import dataclass, field

from harness.observe.durations import compact_duration


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule, as it will be written to the rule file."""

    name: str
    expr: str
    for_s: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # How long a fault at full strength takes to push expr over its threshold
    # (its rate window); 0 for a condition that shows at once, such as up == 0.
    # Burn-rate alerts compute theirs from the fault's error ratio instead.
    window_s: float = 0.0

    def as_prometheus(self) -> dict:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": compact_duration(self.for_s, f"{self.name}.for"),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }


@dataclass(frozen=True)
class RecordingRule:
    """One Prometheus recording rule."""

    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def as_prometheus(self) -> dict:
        rule = {"record": self.record, "expr": self.expr}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


@dataclass(frozen=True)
class RuleGroup:
    """Rules evaluated in order, so an alert reads recordings made this round."""

    name: str
    rules: tuple[AlertRule | RecordingRule, ...]

    def alerts(self) -> list[AlertRule]:
        return [rule for rule in self.rules if isinstance(rule, AlertRule)]
