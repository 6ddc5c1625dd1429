"""`harness sweep` on a real estate: one edge's outage, the SLO it breaks named.

Starts the whole estate on 127.0.0.1 once; about forty seconds.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.live


def test_a_sweep_of_one_edge_names_the_slo_its_outage_breaks(tmp_path):
    edge = "claims-api_to_customer-api"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "-q",
            "sweep",
            "--edge",
            edge,
            "--kind",
            "outage",
            "--steady-s",
            "10",
            "--fault-s",
            "12",
            "--reports",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = tmp_path.glob("sweep-*")
    report = json.loads((folder / "sweep.json").read_text())
    (result,) = report["results"]
    assert (result["edge"], result["kind"], result["verdict"]) == (
        edge,
        "outage",
        "failed",
    )
    # claims-api looks every claim's customer up: without customer-api, claims
    # fail. The outage is claims-api's view alone, so customer-api holds.
    assert "claims-api availability" in result["broken"]
    assert not [s for s in result["broken"] if s.startswith("customer-api")]
    assert report["single_points_of_failure"][0]["edge"] == edge
    assert f"{edge}: claims-api availability" in done.stdout
    assert (folder / "experiments" / f"{edge}-outage.yaml").exists()
