r"""A safe calculator for rationales: evaluate `a op b` expressions, check stated equations, format results.

One parser serves three readers: the error anatomy (is an equation's stated result wrong?),
curation (drop or repair teacher rationales with wrong arithmetic) and calculator-assisted
decoding (force the result after a student's `expr =`).

Accepted: ASCII decimal numbers (optionally `$`-prefixed, with thousands commas: `$1,200.50`),
`+ - * /` (also the teacher's spellings `x`, `×`, `÷`; `x` only between spaces, so `4x` stays
algebra), parentheses and unary minus. LaTeX as instruction-tuned teachers (and the students
that learn from them) write it is read too: `\times`, `\cdot`, `\div`, `\$`, and unit labels
`\text{ apples}`, which are skipped (`42 \text{ red} + 7 \text{ green} = 49`). Anything else
is refused with a `CalculatorError`, never evaluated: no `eval`, no exponents, no names. Arithmetic is exact (`Fraction`), and expressions
that are too long, literals with too many digits and results too large are refused, so hostile
text costs microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_EXPRESSION_CHARS = 80  # a rationale's equations are short; longer "expressions" are prose or attacks
MAX_DIGITS = 15  # per number literal
MAX_MAGNITUDE = 10**15  # any intermediate or final value beyond this is refused
EXACT_DECIMALS = 4  # results with at most this many decimals are written exactly (1/8 = 0.125)
ROUND_DECIMALS = 2  # others are rounded like a teacher rounds (1/3 = 0.33)

# Tokens: [0-9] and not \d, which would also accept Arabic-Indic or full-width digits.
_DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_DOLLAR = r"\\?\$"  # $ or LaTeX's \$
_UNIT = r"\\text\{[^{}\\]{0,30}\}"  # a LaTeX unit label: read as a space
_LATEX_OPS = {"\\times": "×", "\\cdot": "×", "\\div": "÷"}
_TOKEN = re.compile(
    rf"\s*(?:(?P<number>(?:{_DOLLAR})?{_DIGITS})|(?P<op>[-+*/×÷()])|(?P<times>(?<=\s)[xX](?=\s))"
    rf"|(?P<latex>\\times|\\cdot|\\div)(?![a-zA-Z])|(?P<unit>{_UNIT}))"
)
_MULTIPLY, _DIVIDE = {"*", "×", "x", "X"}, {"/", "÷"}
# What an expression can be made of, for scanning back from an '=': LaTeX pieces or single characters.
_EXPRESSION_PIECE = re.compile(rf"(?:{_UNIT}|\\times|\\cdot|\\div|\\\$|[0-9.,$+\-*/×÷()xX \t])\Z")
_STATED = re.compile(rf"[ \t]*(?P<dollar>{_DOLLAR})?(?P<number>-?{_DIGITS})")


class CalculatorError(ValueError):
    """The text is not an expression this calculator evaluates (malformed, unsafe or too large)."""


def parse_number(text: str) -> Fraction:
    digits = text.lstrip("\\$").replace(",", "")
    if sum(c.isdigit() for c in digits) > MAX_DIGITS:
        raise CalculatorError(f"number {text[:20]!r}... has more than {MAX_DIGITS} digits")
    return Fraction(digits)


def tokenize(expression: str) -> list[str]:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    tokens, at = [], 0
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if match is None or match.end() == at:
            if expression[at:].strip() == "":
                break
            raise CalculatorError(f"unexpected {expression[at:].strip()[:10]!r}")
        kind = match.lastgroup
        if kind == "latex":
            tokens.append(_LATEX_OPS[match.group(kind)])
        elif kind != "unit":
            tokens.append(match.group(kind))
        at = match.end()
    return tokens


class _Parser:
    """Recursive descent: expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
    factor := '-' factor | '(' expr ')' | number. Depth is bounded by MAX_EXPRESSION_CHARS."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.at, self.binary_ops = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise CalculatorError("expression ends too early")
        self.at += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op, right = self.take(), self.term()
            value = _checked(value + right if op == "+" else value - right)
            self.binary_ops += 1
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in _MULTIPLY | _DIVIDE:
            op, right = self.take(), self.factor()
            if op in _DIVIDE and right == 0:
                raise CalculatorError("division by zero")
            value = _checked(value * right if op in _MULTIPLY else value / right)
            self.binary_ops += 1
        return value

    def factor(self) -> Fraction:
        token = self.take()
        if token == "-":
            return -self.factor()
        if token == "(":
            value = self.expr()
            if self.peek() != ")":
                raise CalculatorError("unbalanced parentheses")
            self.take()
            return value
        if token[0] in "\\$0123456789":
            return _checked(parse_number(token))
        raise CalculatorError(f"unexpected {token!r}")


def _checked(value: Fraction) -> Fraction:
    if abs(value) > MAX_MAGNITUDE:
        raise CalculatorError(f"a value beyond {MAX_MAGNITUDE:.0e}")
    return value


def evaluate(expression: str, *, need_operator: bool = False) -> Fraction:
    """The exact value of `expression`; raises CalculatorError for anything malformed or unsafe.

    With `need_operator`, a bare number ('5', '(5)', '-5') is refused too: it is not a calculation."""
    parser = _Parser(tokenize(expression))
    if not parser.tokens:
        raise CalculatorError("empty expression")
    value = parser.expr()
    if parser.peek() is not None:
        raise CalculatorError(
            "unbalanced parentheses" if parser.peek() == ")" else f"unexpected {parser.peek()!r}"
        )
    if need_operator and parser.binary_ops == 0:
        raise CalculatorError("no operator")
    return value


def try_evaluate(expression: str, *, need_operator: bool = False) -> Fraction | None:
    try:
        return evaluate(expression, need_operator=need_operator)
    except CalculatorError:
        return None


def format_number(value: Fraction, dollar: bool = False) -> str:
    """A result as a teacher writes it: integers without '.0', short decimals exactly, others rounded."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value.denominator == 1:
        text = str(value.numerator)
    else:
        places = next((d for d in range(1, EXACT_DECIMALS + 1) if (value * 10**d).denominator == 1), None)
        if places is None:  # round half up at ROUND_DECIMALS; never round a non-zero value to 0
            places = ROUND_DECIMALS
            while round(value, places) == 0 and places < 6:
                places += 1
        scaled = int(value * 10**places + Fraction(1, 2))
        text = f"{scaled // 10**places}.{scaled % 10**places:0{places}d}".rstrip("0").rstrip(".")
    if text == "0":
        sign = ""
    return sign + ("$" if dollar else "") + text


def stated_matches(stated: Fraction, value: Fraction, decimals: int) -> bool:
    """Whether a stated result agrees with the exact value: equal when the value is a whole number,
    else rounded or truncated at the stated precision (10/3 = 3.33, 3.3 and 3 are all accepted)."""
    if value.denominator == 1:
        return stated == value
    return abs(stated - value) < Fraction(1, 10**decimals)


# --- equations in text ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Equation:
    expression: str  # as written, e.g. '(9 + 21) - 29'
    stated: str  # the result as written after '=', e.g. '1' or '$12.50'
    value: Fraction  # the calculator's exact result
    start: int  # where `stated`'s number starts in the text
    end: int  # where it ends

    @property
    def dollar(self) -> str:
        """How the stated result writes its dollar sign: '$', '\\$' (LaTeX) or ''."""
        written = re.match(_DOLLAR, self.stated)
        return written.group() if written else ""

    @property
    def number(self) -> str:
        """The stated result without '$' and thousands commas: '-12.50'."""
        return self.stated[len(self.dollar) :].replace(",", "")

    @property
    def correct(self) -> bool:
        return stated_matches(Fraction(self.number), self.value, decimals=len(self.number.partition(".")[2]))

    @property
    def result(self) -> str:
        """The calculator's result, written as the stated one was ($ or not)."""
        return self.dollar + format_number(self.value)


def expression_before(text: str) -> str | None:
    """The longest arithmetic expression (with at least one operator) that `text` ends with, or None.

    Scans back over characters an expression can hold, then tries start points left to right:
    '... a total of 41 + 29 ' gives '41 + 29'; 'she has 4 cupcakes + 29 ' gives None."""
    stop = len(text.rstrip())
    start = stop
    while stop - start < 2 * MAX_EXPRESSION_CHARS:
        piece = _EXPRESSION_PIECE.search(text, max(0, start - 40), start)
        if piece is None:
            break
        start = piece.start()
    for at in range(start, stop):
        begins = (text[at] in "0123456789($-" or text.startswith("\\$", at)) and (
            at == start or text[at - 1] not in "0123456789.,$\\"
        )
        if (
            begins
            and stop - at <= MAX_EXPRESSION_CHARS
            and try_evaluate(text[at:stop], need_operator=True) is not None
        ):
            return text[at:stop]
    return None


def find_equations(text: str) -> list[Equation]:
    """Every `expression = number` in `text` that the calculator can check, in order."""
    equations = []
    for eq in re.finditer(r"=", text):
        at = eq.start()
        if text[at - 1 : at] in ("=", "<", ">", "!") or text[at + 1 : at + 2] == "=":
            continue  # ==, <=, >=, !=
        stated = _STATED.match(text, at + 1)
        expression = expression_before(text[:at])
        if stated is None or expression is None:
            continue
        rest = text[stated.end() :]
        if re.match(r"\s*(?:[-+*/×÷]|[xX]\s|\\times|\\cdot|\\div)\s*[0-9$(\\]|[0-9%]|\\%", rest):
            continue  # '= 5/2', '= 3 + 4' (the stated side is itself an expression) or '= 50%'
        number_start = stated.start("dollar") if stated.group("dollar") else stated.start("number")
        value = evaluate(expression)
        equations.append(
            Equation(expression, text[number_start : stated.end()], value, number_start, stated.end())
        )
    return equations


def pending_result(text: str) -> tuple[str, str, str] | None:
    """For decoding: when `text` ends with `expression =` (and perhaps the space after it), return
    (expression, the whole result as the calculator writes it after '=', the part still to write).

    '... so 6 * 8 =' -> ('6 * 8', ' 48', ' 48'); '... so 6 * 8 = ' -> ('6 * 8', ' 48', '48')."""
    match = re.search(r"(?<![=<>!])=( ?)\Z", text)
    if match is None:
        return None
    expression = expression_before(text[: match.start()])
    if expression is None:
        return None
    dollar = "\\$" if "\\$" in expression else "$" if "$" in expression else ""
    result = " " + dollar + format_number(evaluate(expression))
    written = match.group(1)
    return expression, result, result[len(written) :]


def repair(text: str, answer: str | None = None) -> str | None:
    """`text` with each wrong stated result replaced by the calculator's, or None when a repair would
    change the reasoning: the wrong number is used again later (a chain built on it, or the same
    number meaning something else: a repair cannot tell), or it is the final `answer`, which the
    training label states. Text with no wrong equation comes back unchanged."""
    wrong = [e for e in find_equations(text) if not e.correct]
    for e in wrong:
        later = text[e.end :].replace(",", "")
        used_later = re.search(rf"(?<![0-9.]){re.escape(e.number)}(?![0-9]|\.[0-9])", later)
        if used_later or _same_number(e.number, answer):
            return None
    for e in reversed(wrong):
        text = text[: e.start] + e.result + text[e.end :]
    return text


def _same_number(a: str, b: str | None) -> bool:
    try:
        return b is not None and Fraction(a) == Fraction(b.replace(",", "").strip())
    except ValueError:
        return False
