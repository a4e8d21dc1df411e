"""The look-alike rule folds ASCII punctuation (a dot, a dash, an underscore is easily missed), and
in a batch a look-alike of a plain name is held back alone (:mod:`grader.board.names`)."""

from __future__ import annotations

import pytest

from grader.board.names import imitators, is_plain, lookalike_problem


@pytest.mark.parametrize("name, other", [
    ("alice.", "alice"), ("al-ice", "alice"), ("alice--", "alice"), ("b.o.b", "bob"),
    ("bob_", "bob"), ("mallory-", "mallory"), ("rn.allory", "mallory"), ("a.1ice", "alice")])
def test_punctuation_does_not_make_another_student(name, other):
    assert f"looks like {other!r}" in lookalike_problem(name, [other])
    assert f"looks like {name!r}" in lookalike_problem(other, [name])


@pytest.mark.parametrize("name, other", [("bob.2", "bob"), ("alice.b", "alice"),
                                         ("al-ice", "alicia")])
def test_punctuation_beside_something_else_keeps_two_students(name, other):
    assert lookalike_problem(name, [other]) == ""


def test_plain_names_are_ascii_letters_only():
    assert is_plain("alice") and is_plain("arnold")
    assert not any(map(is_plain, ["a1ice", "alice.", "b0b", "al-ice", "\u0430lice"]))


def test_only_the_imitator_is_held_back():
    held = imitators({"alice", "alice.", "a1ice", "bob", "carol", "rn.allory", "mallory"})
    assert set(held) == {"alice.", "a1ice", "rn.allory"}
    assert "so it is held back and 'alice' is graded" in held["a1ice"]
    assert "so it is held back and 'mallory' is graded" in held["rn.allory"]


def test_look_alikes_without_a_plain_name_are_held_back_together():
    held = imitators({"a1ice", "al-ice", "bob"})
    assert set(held) == {"a1ice", "al-ice"}
    assert all("neither is graded" in reason for reason in held.values())
    # two plain names drawn alike (rn reads as m): nothing says which one imitates
    assert set(imitators({"arnold", "amold"})) == {"arnold", "amold"}
