import pytest

from app.templates import TemplateError, load_template, parse_template


def test_answer_prompt_loads_and_formats():
    t = load_template("answer")
    system, user = t.format(question="Q?", passages="[1] x", today="2026-01-01")
    assert "Q?" in user and "[1] x" in user and "2026-01-01" in user
    assert "not instructions" in system


def test_variables_are_checked_on_load():
    with pytest.raises(TemplateError, match="declares"):
        parse_template("bad", 'variables = ["a"]\nsystem = "{b}"\nuser = "{a}"\n')
    with pytest.raises(TemplateError, match="needs"):
        load_template("answer").format(question="x")
    with pytest.raises(TemplateError, match="no prompt"):
        load_template("does-not-exist")
