"""The shared answer checker: the paper's rules, by example and by property."""

from hypothesis import given
from hypothesis import strategies as st

from ftcot.answers import PREFIXES, AnswerFormat, candidates, check

NUMBER = AnswerFormat.parse("number")
FLOAT = AnswerFormat.parse("number:float")
ABCDE = AnswerFormat.parse("choice:ABCDE")
ABC = AnswerFormat.parse("choice:ABC")
YESNO = AnswerFormat.parse("yesno")
LETTERS = AnswerFormat.parse("letters")


def test_prefix_takes_first_candidate_after_it():
    text = "We had 3 apples and 4 pears --> 7 apples, not 9"
    assert check(text, "7", NUMBER, PREFIXES["ft_cot"]).correct


def test_missing_prefix_takes_last_candidate():
    verdict = check("3 plus 4 is 7", "7", NUMBER, PREFIXES["ft_cot"])
    assert verdict.correct and not verdict.correct_format


def test_no_prefix_template_takes_first_candidate():
    assert check(" 2. Because 2 + 0 = 2, not 5", "2", NUMBER, None).correct
    assert not check(" 5 or maybe 2", "2", NUMBER, None).correct


def test_contains_answer_and_completeness():
    verdict = check("--> 5 or 7", "7", NUMBER, "-->", finish_reason="length")
    assert not verdict.correct and verdict.contains_answer and not verdict.complete


def test_strings_vs_floats():
    # MultiArith/GSM8K compare strings: '5.0' is not '5'; AddSub/SVAMP/SingleEq compare floats.
    assert not check("5.0", "5", NUMBER).correct
    assert check("5", "5.0", FLOAT).correct
    assert check("1,234", "1234", NUMBER).correct
    assert check("1234", "1,234", NUMBER).correct


def test_choices_yes_no_and_letters():
    assert check(" (B) is right", "B", ABCDE).correct
    assert not check(" D", "D", ABC).correct  # D is not an option of a 3-choice task
    assert check(" Yes.", "Yes", YESNO).correct
    assert check("No, it is not.", "no", YESNO).correct
    assert check(' "fnel".', "fnel", LETTERS).correct
    assert not check(' "fnenl".', "fnel", LETTERS).correct


def test_answer_format_round_trip():
    for spec in ("number", "number:float", "choice:ABCDEF", "yesno", "letters", "text"):
        assert str(AnswerFormat.parse(spec)) == spec


numbers = st.one_of(
    st.integers(-(10**9), 10**9).map(str), st.decimals(-1e6, 1e6, places=3, allow_nan=False).map(str)
)
filler = st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=30)


@given(n=numbers, before=filler, after=filler)
def test_a_number_after_the_prefix_is_found(n, before, after):
    text = f"{before} --> {n} {after}"
    assert check(text, n, FLOAT, "-->").correct


@given(n=st.integers(0, 10**12))
def test_commas_never_change_a_number(n):
    assert check(f"--> {n:,}", str(n), NUMBER, "-->").correct


@given(ns=st.lists(st.integers(-999, 999), min_size=1, max_size=6), words=filler)
def test_without_prefix_the_last_number_wins(ns, words):
    text = " ".join(f"{words} {n}" for n in ns)
    assert check(text, str(ns[-1]), NUMBER, "-->").correct
    assert check(text, str(ns[0]), NUMBER, None).correct


@given(letter=st.sampled_from("ABCDE"), noise=st.text(alphabet="fghijklmnop ,.()", max_size=20))
def test_choice_letter_is_found_in_noise(letter, noise):
    assert check(f"{noise}({letter}){noise}", letter, ABCDE).correct


@given(text=st.text(max_size=60))
def test_candidates_have_the_shape_of_answers(text):
    assert all(c in "ABCDE" for c in candidates(text, ABCDE))
    assert all(c in ("yes", "no") for c in candidates(text, YESNO))
    for c in candidates(text, NUMBER):
        float(c)


@given(word=st.text(alphabet="abcdefghij", min_size=1, max_size=8), quote=st.sampled_from(['"', "'", ""]))
def test_letters_ignore_quotes_spaces_and_periods(word, quote):
    assert check(f" {quote}{' '.join(word)}{quote}.", word, LETTERS).correct
