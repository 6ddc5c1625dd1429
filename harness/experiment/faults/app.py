"""Application faults inside one mock, through its admin fault API.

The mock is asked to end the fault by itself a margin after the experiment
means to roll it back (fault_schema.MOCK_MARGIN_S), so a fault left by a
harness that died still ends. Rollback deletes the fault, or rolls the
deploy back for a bad deploy.
"""

from harness.errors import APICallError
from harness.experiment.fault_schema import MOCK_MARGIN_S
from harness.stack.mock_admin import MockAdminClient


class AppFaults:
    """Applies, reads back and removes faults through each mock's admin API."""

    family = "app"

    def __init__(self, admin: dict[str, MockAdminClient]):
        self.admin = admin

    def undo_record(self, fault) -> dict:
        return {"admin_url": self.admin[fault.service].base_url, "fault_id": None}

    def apply(self, fault) -> dict:
        answer = self.admin[fault.service].add_fault(
            fault.kind,
            **fault.attributes,
            duration_s=fault.duration_s + MOCK_MARGIN_S,
        )
        return {"fault_id": answer["id"]}

    def drift(self, fault, applied: dict) -> str | None:
        if _removes_itself(fault):
            # It may have run its course and removed itself already.
            return None
        found = self._read(fault, applied)
        if found is None:
            return f"fault {applied['fault_id']} is gone from {fault.service}"
        if found["kind"] != fault.kind:
            return f"fault {applied['fault_id']} is now a {found['kind']} fault"
        return None

    def gone(self, fault, applied: dict) -> bool:
        if applied.get("fault_id") is None:
            return True  # the mock never answered with a fault
        return self._read(fault, applied) is None

    def _read(self, fault, applied: dict) -> dict | None:
        try:
            return self.admin[fault.service].fault(applied["fault_id"])
        except APICallError as exc:
            if exc.status == 404:
                return None
            raise

    def take_off(self, fault, applied: dict) -> dict:
        admin = self.admin[fault.service]
        try:
            if fault.kind == "bad_deploy":
                admin.rollback()
            else:
                admin.remove_fault(applied["fault_id"])
        except APICallError as exc:
            # A fault that ran its course has removed itself.
            if not (_removes_itself(fault) and exc.status == 404):
                raise
            return {"removed_itself": True}
        return {}

    def forget(self, fault) -> None:
        pass

    def effect_query(self, fault) -> tuple[str, str]:
        labels = f'service="{fault.service}",kind="{fault.kind}"'
        # Over a range, so a fault that already ended still counts.
        active = f"max(max_over_time(mock_faults_active{{{labels}}}[{{window}}])) >= 1"
        if not _removes_itself(fault):
            return (active, fault.service)
        # One that ended before any scrape shows only in what it did; with
        # nothing affected (no traffic), it never shows and ends the run as
        # an error.
        affected = (
            f"max(increase(mock_fault_affected_requests_total{{{labels}}}"
            "[{window}])) > 0"
        )
        return (f"({active}) or ({affected})", fault.service)


def _removes_itself(fault) -> bool:
    """An error fault with first_n, or a loop_block that blocks once."""
    if fault.kind == "error":
        return fault.attributes.get("first_n") is not None
    return fault.kind == "loop_block" and not fault.attributes.get("interval_ms")
