"""report.html in a real browser: every chart draws, a broken one is caught,
and a failed run's banner is on the first screen.

Chromium runs headless on the page file and prints the DOM after the page's
script ran; the script records charts drawn and errors on <body>.
"""

import re

import pytest

from harness.report.html import write_report_html
from tests import browser
from tests.report.html_page import journal, rendered_body

FIRST_SCREEN_PX = 800


def _open(tmp_path, data: dict) -> dict[str, str]:
    page = write_report_html(tmp_path, data)
    return rendered_body(page, tmp_path / "chromium-profile")


def test_every_chart_draws_without_errors(tmp_path):
    body = _open(tmp_path, journal("passed"))

    assert body["data-errors"] == "" and body["_console"] == ""
    assert body["data-done"] == "1"
    assert body["data-charts-drawn"] == body["data-charts-expected"] == "4"
    svgs = body["_dom"].count("<svg")
    paths = [d for d in re.findall(r'<path d="([^"]*)"', body["_dom"]) if d]
    assert svgs == 4
    assert len(paths) == 1 + 3 + 1 + 2, "one path per line of every chart"
    assert body["_dom"].count('class="fault-window"') == 4
    assert 'class="marker marker-alert_firing"' in body["_dom"]
    in_faults = re.findall(r'data-points-in-faults="(\d+)"', body["_dom"])
    assert len(in_faults) == 4 and all(int(n) > 0 for n in in_faults)
    assert "data-banner-top" not in body


def test_a_failed_run_shows_its_banner_on_the_first_screen(tmp_path):
    body = _open(tmp_path, journal("failed"))

    assert body["data-errors"] == ""
    assert 0 <= int(body["data-banner-top"]) < FIRST_SCREEN_PX
    assert int(body["data-banner-bottom"]) <= FIRST_SCREEN_PX


def test_a_chart_that_cannot_draw_is_recorded_as_an_error(tmp_path):
    data = journal("passed")
    data["series"]["claims-api:latency_p95_s"] = [["soon", 1.0], [1.0, 2.0]]

    body = _open(tmp_path, data)

    assert "claims-api-latency" in body["data-errors"]
    assert "point 0 is not [t_s, value or null]" in body["data-errors"]
    assert body["data-charts-drawn"] == "3"
    assert body["data-charts-expected"] == "4"
    assert "chart not drawn" in body["_dom"]


def test_a_script_that_escaped_into_the_page_is_refused(tmp_path):
    page = write_report_html(tmp_path, journal("failed"))
    text = page.read_text()
    page.write_text(
        text.replace(
            "<h1>", "<script>document.body.dataset.injected = 1</script><h1>", 1
        )
    )

    body = rendered_body(page, tmp_path / "chromium-profile")

    assert "data-injected" not in body
    assert "violates the following Content Security Policy" in body["_console"]
    assert body["data-charts-drawn"] == "4", "the page's own script still ran"


def test_a_missing_chromium_skips_locally_and_fails_in_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make browser"):
        browser.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-chromium is missing"):
        browser.require_chromium()
