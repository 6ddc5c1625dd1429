import pytest

from harness.config import Observability
from harness.observe.timing import (
    detection_deadline,
    detection_floor,
    resolve_deadline,
)

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
    deadline = detection_deadline(OBS, for_s=2, fault_effect_s=1.0, window_fill_s=8.64)

    assert deadline.terms == {
        "fault_effect_s": 1.0,
        "window_fill_s": 8.64,
        "scrape_s": 2,
        "evaluation_s": 1,
        "for_s": 2,
        "resend_delay_s": 1,
        "group_wait_s": 0,
        "group_interval_s": 0.1,
        "delivery_tolerance_s": 1.5,
    }
    assert deadline.total_s == pytest.approx(8.6 + 8.64)


def test_a_stated_margin_is_its_own_term():
    deadline = detection_deadline(OBS, for_s=2, fault_effect_s=0, margin_s=3)

    assert deadline.terms["margin_s"] == 3
    assert deadline.total_s == pytest.approx(7.6 + 3)


def test_the_floor_waits_on_no_clock():
    floor = detection_floor(OBS, for_s=2, fault_effect_s=1.0, window_fill_s=8.64)

    assert floor.terms == {
        "fault_effect_s": 1.0,
        "window_fill_s": 8.64,
        "for_s": 2,
        "group_wait_s": 0,
    }
    assert floor.total_s < detection_deadline(OBS, 2, 1.0, 8.64).total_s


def test_resolve_deadline_uses_a_given_window():
    assert resolve_deadline(OBS, window_s=28.2).terms["rate_window_s"] == 28.2


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
