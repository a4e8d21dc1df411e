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
    from challenge.tasks.sorter import train_sorter

    out = tmp_path / "sorter.pt"
    run = train_sorter(impl="solutions", max_len=3, vocab=5, minutes=None, steps=3,
                       eval_every=3, dev_size=8, batch_size=8, out=out, device="cpu",
                       progress=False)
    train = load_checkpoint(out)["config"]["train"]
    assert (train["device"], train["device_name"]) == ("cpu", describe(torch.device("cpu")))
    assert run.device == "cpu" and " on cpu; " in run.summary()
