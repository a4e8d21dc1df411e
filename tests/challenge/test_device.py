"""``--device``: auto picks CUDA when present, else the CPU; an unavailable device is one line;
training records where it ran in the checkpoint and the run; batches follow the model. Only the
CPU path runs here (a GPU run is recorded in docs/experiments.md when one was available)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from challenge.checkpoint import load_checkpoint
from challenge.cli import main
from challenge.device import available, describe, resolve_device, to_device
from challenge.errors import ChallengeError


def test_auto_is_cuda_when_present_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected == resolve_device(None).type
    assert resolve_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("name, said", [("tpu", "unknown device 'tpu'; use one of auto, cpu, "
                                                "cuda, mps")])
def test_an_unknown_device_is_named(name, said):
    with pytest.raises(ChallengeError, match=said):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_an_unavailable_device_says_what_torch_can_use_here(tmp_path):
    result = CliRunner().invoke(main, ["train", "sorter", "--device", "cuda", "--max-len", "3",
                                       "--vocab", "5", "--out", str(tmp_path / "s.pt")])
    assert result.exit_code == 1 and not (tmp_path / "s.pt").exists()
    assert result.output.strip() == (f"Error: device 'cuda' is not available here (torch "
                                     f"{torch.__version__} can use: {', '.join(available())}); "
                                     f"pass --device cpu or auto")


def test_batches_follow_the_device_nested_and_untouched_otherwise():
    batch = ({"ids": torch.ones(2, 3)}, [torch.zeros(2)], "label", 3)
    moved = to_device(batch, torch.device("cpu"))
    assert moved[0]["ids"].device.type == "cpu" and moved[1][0].device.type == "cpu"
    assert moved[2:] == ("label", 3) and isinstance(moved[1], list)


def test_training_records_the_device_in_the_checkpoint_and_the_run(tmp_path):
    from challenge.tasks.config import SorterTraining, override
    from challenge.tasks.sorter import train_sorter

    out = tmp_path / "sorter.pt"
    config = override(SorterTraining(), impl="solutions", max_len=3, vocab=5, minutes=None,
                      steps=3, eval_every=3, dev_size=8, batch_size=8)
    run = train_sorter(config, out=out, device="cpu", progress=False)
    train = load_checkpoint(out)["config"]["train"]
    assert (train["device"], train["device_name"]) == ("cpu", describe(torch.device("cpu")))
    assert run.device == "cpu" and " on cpu; " in run.summary()


def _device_under_test() -> str:
    """cpu here; CHALLENGE_TEST_DEVICE=cuda runs the same tests on a GPU machine."""
    import os

    return os.environ.get("CHALLENGE_TEST_DEVICE", "cpu")


def test_check_runs_the_model_parts_on_the_device_with_the_same_verdicts():
    from challenge.student import check

    device = _device_under_test()
    for part in ("lstm_cell", "spam_model", "sorter_model"):
        here = check(part, impl="solutions", device="cpu")
        there = check(part, impl="solutions", device=device)
        assert there.device.startswith(device)
        assert [c["passed"] for c in there.parts[0].checks] == \
            [c["passed"] for c in here.parts[0].checks], there.summary()
        assert all(c["passed"] for c in there.parts[0].checks), there.summary()


def test_the_device_branch_builds_models_on_the_device_and_verifies_on_the_cpu(monkeypatch):
    # the branch that runs a check "there", taken on whatever device this machine has: the
    # model a run step builds is made on it, and its output reaches verify on the CPU
    import challenge.checks as checks
    from challenge.checks.base import RunOutcome

    seen = {}

    def spy(check, module, data):
        seen["default"] = torch.empty(0).device.type
        seen["data"] = {v.device.type for v in data.values() if isinstance(v, torch.Tensor)}
        return RunOutcome(output=torch.ones(2, device=torch.empty(0).device))

    monkeypatch.setattr(checks, "execute", spy)
    device = torch.device(_device_under_test())
    (result,) = checks.run_local("solutions", ["lstm_cell"], device=device)[:1]
    assert seen["default"] == device.type and seen["data"] == {device.type}


def test_check_refuses_an_unavailable_device_in_one_line():
    result = CliRunner().invoke(main, ["check", "lstm_cell", "--impl", "solutions",
                                       "--device", "mps" if "mps" not in available() else "cuda:99"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not available here" in result.output or "CUDA device" in result.output
