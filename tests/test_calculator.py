"""The calculator: exact arithmetic, hostile input refused fast, equations found and checked in
teacher-style text, results formatted like a teacher writes them, and repairs that never change
the reasoning."""

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftcot.calculator import (
    MAX_EXPRESSION_CHARS,
    CalculatorError,
    evaluate,
    expression_before,
    find_equations,
    format_number,
    pending_result,
    repair,
    try_evaluate,
)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 3", 5),
        ("(9 + 21) - 29", 1),
        ("10 - 4 - 3", 3),  # left-associative
        ("2 + 3 * 4", 14),  # precedence
        ("(2 + 3) * 4", 20),
        ("48 / 4 / 2", 6),
        ("10 / 4", Fraction(5, 2)),
        ("0.1 + 0.2", Fraction(3, 10)),  # exact, not 0.30000000000000004
        ("-3 * -2", 6),
        ("- (2 + 3)", -5),
        ("$3 + $4", 7),
        ("1,200 + 300", 1500),
        ("6 x 8", 48),
        ("6 × 8 ÷ 4", 12),
        ("  7  ", 7),
    ],
)
def test_evaluates_exactly(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("9**9**9", "unexpected"),  # no exponents, however written
        ("9^999999", "unexpected"),
        ("1e999999", "unexpected"),
        ("10 ** 100000000", "unexpected"),
        ("1 / 0", "division by zero"),
        ("1 / (3 - 3)", "division by zero"),
        ("0 ÷ 0", "division by zero"),
        ("(2 + 3", "unbalanced"),
        ("2 + 3)", "unbalanced"),
        ("((1)", "unbalanced"),
        (")(", "unexpected"),
        ("٣ + ٤", "unexpected"),  # Arabic-Indic digits
        ("３ + ４", "unexpected"),  # full-width digits
        ("2 + ²", "unexpected"),  # superscript two: str.isdigit() says yes, the calculator says no
        ("1" * 16 + " + 1", "digits"),
        ("999999999999999 * 999999999999999", "beyond"),
        ("1" + " + 1" * 40, "longer"),
        ("__import__('os')", "unexpected"),
        ("2 + ", "ends too early"),
        ("", "empty"),
        ("4x - 2", "unexpected"),  # algebra: 'x' multiplies only between spaces
        ("1.2.3 + 1", "unexpected"),
    ],
)
def test_refuses_hostile_or_malformed_input(expression, why):
    with pytest.raises(CalculatorError, match=why):
        evaluate(expression)


def test_need_operator_refuses_bare_numbers():
    assert try_evaluate("(5)", need_operator=True) is None
    assert try_evaluate("-5", need_operator=True) is None
    assert try_evaluate("5 - 1", need_operator=True) == 4


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_evaluates_or_is_refused_quickly(text):
    started = time.perf_counter()
    try:
        value = evaluate(text)
    except CalculatorError:
        pass
    else:
        assert isinstance(value, Fraction) and abs(value) <= 10**15
    assert time.perf_counter() - started < 0.5  # no input makes it slow (generous for loaded CI machines)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/() .x^e٣", max_size=MAX_EXPRESSION_CHARS))
def test_expression_like_text_never_raises_anything_else(text):
    assert try_evaluate(text) is None or abs(try_evaluate(text)) <= 10**15
    find_equations(text + " = 5")  # the scanners must not raise either
    pending_result(text + " =")


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6), st.sampled_from("+-*/"))
def test_agrees_with_python_on_integers(a, b, op):
    expression = f"{a} {op} {b}"
    if op == "/" and b == 0:
        assert try_evaluate(expression) is None
        return
    expected = {"+": a + b, "-": a - b, "*": a * b, "/": Fraction(a, b or 1)}[op]
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(48), "48"),
        (Fraction(-3), "-3"),
        (Fraction(5, 2), "2.5"),
        (Fraction(1, 8), "0.125"),
        (Fraction(1, 16), "0.0625"),
        (Fraction(1, 3), "0.33"),
        (Fraction(2, 3), "0.67"),
        (Fraction(-2, 3), "-0.67"),
        (Fraction(1, 3000), "0.0003"),  # never rounded to 0
        (Fraction(0), "0"),
    ],
)
def test_formats_like_a_teacher(value, text):
    assert format_number(value) == text
    assert format_number(value, dollar=True) == text.replace("-", "-$") if "-" in text else "$" + text


def test_finds_and_checks_equations_in_teacher_text():
    text = (
        "Gwen took 41 + 29 = 71 pictures. Then 70 - 15 = 55 pictures. 11/11 = 0.6. "
        "Each gets 10 / 3 = 3.33 cookies. She pays $3 + $4 = $7. "
        "Solve 2x - 3 = 7. Ratio 10/20 = 50%. Also 2 + 3 = 5/1. x = 3, a <= 4, 5 == 5."
    )
    found = [(e.expression, e.stated, e.correct) for e in find_equations(text)]
    assert found == [
        ("41 + 29", "71", False),
        ("70 - 15", "55", True),
        ("11/11", "0.6", False),
        ("10 / 3", "3.33", True),
        ("$3 + $4", "$7", True),
    ]


def test_rounded_or_truncated_results_are_right_and_whole_numbers_must_be_exact():
    assert [e.correct for e in find_equations("2/3 = 0.67, 2/3 = 0.66, 2/3 = 0.6, 7/7 = 1.0, 6/3 = 2.1")] == [
        True,
        True,
        True,
        True,
        False,
    ]


def test_expression_before_takes_the_longest_expression():
    assert expression_before("So, she took a total of 41 + 29 ") == "41 + 29"
    assert expression_before("that is (9 + 21) - 29") == "(9 + 21) - 29"
    assert expression_before("Wendy made 4 cupcakes + 29 cookies - pastries sold ") is None
    assert expression_before("in 2019. 5 + 2") == "5 + 2"  # a sentence's full stop is not a decimal point
    assert expression_before("48 ") is None


def test_pending_result_for_decoding():
    assert pending_result("so 6 * 8 =") == ("6 * 8", " 48", " 48")
    assert pending_result("so 6 * 8 = ") == ("6 * 8", " 48", "48")
    assert pending_result("cost $3 + $4 =") == ("$3 + $4", " $7", " $7")
    assert pending_result("so 6 * 8 = 4") is None  # already writing
    for text in ("x =", "a <=", "5 ==", "2 + 3 = 5 =", "1 / 0 =", "9**9 =", "so 6 * 8 =\n"):
        assert pending_result(text) is None, text


def test_repair_fixes_only_what_changes_nothing_else():
    assert (
        repair("41 + 29 = 71 pictures. Then 70 - 15 = 55.", "55")
        == "41 + 29 = 70 pictures. Then 70 - 15 = 55."
    )
    assert (
        repair("She pays $3 + $4 = $8 in all, then the rest.", "9")
        == "She pays $3 + $4 = $7 in all, then the rest."
    )
    # The wrong number is built on later: repairing it would break the chain.
    assert repair("41 + 29 = 71. Then 71 - 15 = 56.", "55") is None
    # The wrong result is the answer the label states: the plan, not the arithmetic, is off.
    assert repair("5 + 4 = 8 apples.", "8") is None
    assert repair("No equations here.", "3") == "No equations here."


def test_reads_latex_as_instruction_tuned_teachers_write_it():
    """Qwen2.5-Coder's rationales (and its students'): `\\[ 42 \\text{ red} + 7 \\text{ green} = 59 \\]`."""
    text = (
        r"\[ 42 \text{ red} + 7 \text{ green} = 59 \text{ apples} \] "
        r"\[ 3 \times 4 = 12 \] and \( 6 \div 4 = 1.5 \), \( 2 \cdot 5 = 10 \), \$5 \times 2 = \$11."
    )
    found = [(e.expression, e.stated, e.correct, e.result) for e in find_equations(text)]
    assert found == [
        (r"42 \text{ red} + 7 \text{ green}", "59", False, "49"),
        (r"3 \times 4", "12", True, "12"),
        (r"6 \div 4", "1.5", True, "1.5"),
        (r"2 \cdot 5", "10", True, "10"),
        (r"\$5 \times 2", r"\$11", False, r"\$10"),
    ]
    assert pending_result(r"so \[ 42 \text{ red} + 7 \text{ green} =") == (
        r"42 \text{ red} + 7 \text{ green}",
        " 49",
        " 49",
    )
    assert pending_result(r"pays \$5 \times 3 = ") == (r"\$5 \times 3", r" \$15", r"\$15")
    assert (
        repair(r"\[ 4 \times 5 = 21 \text{ cars} \] in all.", "3")
        == r"\[ 4 \times 5 = 20 \text{ cars} \] in all."
    )
    # Not arithmetic: a unit alone, a command that only starts like an operator, an unclosed or long label.
    for text in (r"3 \timesx 4", r"\text{a} + 1", r"3 \text{ apples + 4", "3 \\text{" + "a" * 40 + "} + 4"):
        assert try_evaluate(text) is None, text
    assert evaluate(r"(3 \times 4) \div 2") == 6
