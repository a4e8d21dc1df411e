"""``challenge train`` on a busy laptop: the OpenMP wait policy is set before torch loads, the
thread count comes from the free physical cores (``--threads`` overrides), and the command says
what it chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from challenge.cli import main
from challenge.cli import train_threads as tt


def _stat(cpu_ticks: list[tuple[int, int]]) -> str:
    """A /proc/stat with (busy user ticks, idle ticks) per CPU."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{i} {busy} 0 0 {idle} 0 0 0 0 0 0" for i, (busy, idle) in enumerate(cpu_ticks)]
    return "\n".join(lines) + "\nintr 1 2 3\n"


def test_busy_cores_counts_what_other_processes_used(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text(_stat([(100, 100), (100, 100)]))
    # between the two reads: cpu0 fully busy, cpu1 a quarter busy
    monkeypatch.setattr(tt.time, "sleep",
                        lambda s: stat.write_text(_stat([(200, 100), (125, 175)])))
    assert tt.busy_cores([0, 1], stat=stat) == pytest.approx(1.25)
    stat.write_text(_stat([(100, 100), (100, 100)]))
    assert tt.busy_cores([1], stat=stat) == pytest.approx(0.25)
    assert tt.busy_cores([0], stat=tmp_path / "missing") == -1.0


def test_physical_cores_count_hyperthreads_once(tmp_path):
    for cpu, core in enumerate([0, 1, 0, 1]):             # 4 logical CPUs on 2 cores
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text("0\n")
        (topo / "core_id").write_text(f"{core}\n")
    assert tt.physical_cores([0, 1, 2, 3], tmp_path) == 2
    assert tt.physical_cores([0, 2], tmp_path) == 1
    assert tt.physical_cores([0, 7], tmp_path) == 2      # unreadable: the logical count


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(tt, "physical_cores", lambda cpus: len(cpus))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_a_busy_machine_gets_fewer_threads(two_cores):
    assert tt.choose_threads(None, cpus=[0, 1], busy=0.2).threads == 2
    busy = tt.choose_threads(None, cpus=[0, 1], busy=1.1)
    assert busy.threads == 1 and "1.1 busy" in busy.summary()
    assert tt.choose_threads(None, cpus=[0, 1], busy=3.0).threads == 1     # never 0


def test_cap_omp_num_threads_and_override(two_cores, monkeypatch):
    assert tt.choose_threads(None, cap=1, cpus=[0, 1], busy=0.0).threads == 1
    given = tt.choose_threads(3, cap=1, cpus=[0, 1], busy=2.0)
    assert (given.threads, given.reason) == (3, "--threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert tt.choose_threads(None, cpus=[0, 1], busy=0.0).threads == 1


def test_wait_policy_is_set_when_unset_and_a_chosen_one_kept(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    result = CliRunner().invoke(main, ["train", "sorter", "--arch", "bogus", "--threads", "1"])
    assert result.exit_code == 1 and "Error: model.arch" in result.output
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert tt.passive_wait() == "ACTIVE"


@pytest.mark.slow
def test_cli_sets_passive_before_torch_loads_and_reports_threads(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["CHALLENGE_QUIET"] = "1"
    out = tmp_path / "s.pt"
    proc = subprocess.run([sys.executable, "-c", "from challenge.cli import main; main()",
                           "train", "sorter", "--minutes", "0.002", "--threads", "1", "--json",
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    threads = json.loads(proc.stdout)["threads"]
    assert threads["wait_policy"] == "PASSIVE"      # no "set after torch loaded" note
    assert (threads["threads"], threads["reason"]) == (1, "--threads")
    assert Path(out).exists()
