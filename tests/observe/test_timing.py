import pytest

from harness.config import Observability
from harness.observe import detection_deadline, resolve_deadline

OBS = Observability(
    scrape_interval_s=1,
    evaluation_interval_s=1,
    rate_window_s=5,
    resend_delay_s=1,
    group_wait_s=0,
    group_interval_s=0.1,
    repeat_interval_s=3,
    delivery_tolerance_s=1.5,
)


def test_detection_terms_are_in_the_order_they_happen():
    deadline = detection_deadline(OBS, for_s=2, fault_effect_s=1.0)

    assert deadline.terms == {
        "fault_effect_s": 1.0,
        "scrape_s": 2,
        "evaluation_s": 1,
        "for_s": 2,
        "resend_delay_s": 1,
        "group_wait_s": 0,
        "group_interval_s": 0.1,
        "delivery_tolerance_s": 1.5,
    }
    assert deadline.total_s == pytest.approx(8.6)


def test_for_is_rounded_up_to_whole_evaluations():
    obs = Observability(**{**OBS.__dict__, "evaluation_interval_s": 2})

    assert detection_deadline(obs, for_s=3, fault_effect_s=0).terms["for_s"] == 4
    assert detection_deadline(obs, for_s=4, fault_effect_s=0).terms["for_s"] == 4


def test_resolve_deadline_waits_out_the_rate_window():
    deadline = resolve_deadline(OBS)

    assert list(deadline.terms) == [
        "recovery_effect_s",
        "rate_window_s",
        "scrape_s",
        "evaluation_s",
        "group_interval_s",
        "delivery_tolerance_s",
    ]
    assert deadline.total_s == pytest.approx(5 + 1 + 1 + 0.1 + 1.5)


def test_describe_prints_every_term_and_the_total():
    text = resolve_deadline(OBS, recovery_effect_s=0.5).describe()

    assert text.startswith("recovery_effect_s=0.5 + rate_window_s=5")
    assert text.endswith("= 9.1 s")
