"""The student's own grade decodes the sorter as the grader does: generate's default cap for the
in-range measure (so a generate one value short at that cap loses it, as the check
pointer_permutation says), a longer cap only for the longer sequences, with a note."""

from __future__ import annotations

from support.grading import REPO, SHORT_AT_DEFAULT_CAP, sorter_checkpoint, tiny_rubric

from challenge.grading import _sorter
from challenge.scoring import dev_sorter


def test_student_grade_decodes_in_range_with_the_default_cap(tmp_path):
    rubric = tiny_rubric()
    checkpoint = sorter_checkpoint(tmp_path / "sorter.pt", rubric)
    (tmp_path / "sorter_model.py").write_text((REPO / "solutions" / "sorter_model.py").read_text()
                                              + SHORT_AT_DEFAULT_CAP)
    data = dev_sorter(rubric)
    assert any(data.long) and not all(data.long)
    result = _sorter(rubric.task("sorter"), data, checkpoint, str(tmp_path))
    assert result.metrics["exact_match"] == 0.0          # one value short on every row
    assert result.metrics["exact_match_long"] == 1.0     # the long measure's cap lets it finish
    longest = max(len(v) for v in data.inputs)
    assert result.notes[-1] == ("in-range sequences decoded as the contract says, with "
                                "generate's default cap (each row's own length); longer "
                                "sequences (the length-generalisation measure) with "
                                f"max_len={longest}, so the model must stop itself")
