"""The `if:` condition language of ci.yaml jobs.

A job runs only if its condition is true. `parse` checks syntax, names and types when ci.yaml is
read; `Condition.evaluate` walks the syntax tree (never eval) when the pipeline of one event is
translated. A GitHub-style `${{ ... }}` around the whole expression is accepted and ignored.

    expr    := or
    or      := and ( "||" and )*
    and     := not ( "&&" not )*
    not     := "!" not | cmp
    cmp     := primary ( ("==" | "!=") primary )?
    primary := "(" expr ")" | STRING | "true" | "false" | VARIABLE | call
    call    := FUNCTION "(" expr ("," expr)* ")"

Strings are single-quoted (`'it''s'`) or double-quoted with the escapes `\\"` and `\\\\`.
Values are strings or booleans and never convert: `&&`, `||`, `!` and the whole condition need
booleans, `==` and `!=` need two values of the same type, function arguments are strings.

Functions, all returning booleans:

* `startsWith(a, b)`, `endsWith(a, b)`: whether `a` starts / ends with `b`;
* `contains(a, b)`: whether `b` occurs in `a`;
* `matches(value, glob)`: whether `value` matches one filter pattern (see
  `knargo.language.globs`), e.g. `matches(branch, 'release/**')`; negate with `!matches(...)`,
  not with a leading `!`;
* `changed(glob)`: whether a changed path of the push or pull request matches the pattern
  (true when the changed paths are unknown, and for tags and schedules).

Variables:

* `event` (string): `"push"`, `"tag"`, `"pull_request"` or `"schedule"`;
* `ref` (string): the full ref, e.g. `refs/heads/main` or `refs/tags/v1.0`;
* `branch` (string): the pushed branch, the head branch of a pull request, `""` for tags;
* `tag` (string): the tag name, or `""`;
* `base_branch` (string): the target branch of a pull request, else `""`;
* `default_branch` (string): the repository's default branch, e.g. `main`;
* `sha` (string): the commit being built;
* `repository` (string): `"owner/name"`;
* `forge` (string): `"github"`, `"gitlab"` or `"gitea"`;
* `fork` (boolean): whether the change comes from a fork;
* `is_default_branch` (boolean): whether this is a push to the default branch;
* `schedule` (string): the `name` of the `on.schedule` entry that fired (its cron text when it
  has none), `""` for other events.

Results of the jobs a job needs (see `knargo.language.results`), decided while the pipeline
runs:

* `success()`, `failure()`, `always()`, `cancelled()`: status functions without arguments;
* `needs.<job>.result` (string): `"success"`, `"failure"`, `"skipped"` or `"cancelled"`,
  compared with `==` or `!=` to a string only.

A condition that uses none of them holds only when every needed job succeeded
(`success() && ...`).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from knargo.language.globs import GlobError, compile_pattern

__all__ = [
    "CHANGED",
    "NEEDS_RESULT",
    "RESULTS",
    "STATUS_FUNCTIONS",
    "VALUES",
    "VARIABLES",
    "Binary",
    "Call",
    "Condition",
    "ConditionError",
    "Literal",
    "Node",
    "Not",
    "Variable",
    "may_hold",
    "name_errors",
    "never_true",
    "parse",
    "value_of",
    "variable_type",
    "walk",
]

VARIABLES: Mapping[str, type] = MappingProxyType(
    dict.fromkeys(("event", "ref", "branch", "tag", "base_branch", "default_branch"), str)
    | dict.fromkeys(("sha", "repository", "forge", "schedule"), str)
    | dict.fromkeys(("fork", "is_default_branch"), bool)
)


# The only values some variables ever take: comparing with another can never hold.
VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "event": ("pull_request", "push", "schedule", "tag"),
        "forge": ("gitea", "github", "gitlab"),
    }
)
# The status functions and `needs.<job>.result`: values known only while the pipeline runs.
STATUS_FUNCTIONS = ("always", "cancelled", "failure", "success")
RESULTS = ("cancelled", "failure", "skipped", "success")
NEEDS_RESULT = re.compile(r"^needs\.([A-Za-z_][A-Za-z0-9_-]*)\.result$")
_SHORT_NAMES = ("branch", "base_branch", "default_branch", "tag")  # never start with refs/


class ConditionError(ValueError):
    """An invalid condition; `offset` is 0-based into the source text."""

    message: str
    offset: int

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.message = message
        self.offset = offset


def _matches(value: str, pattern: str) -> bool:
    try:
        return compile_pattern(pattern).fullmatch(value) is not None
    except GlobError:  # only a pattern computed at run time can still be invalid here
        return False


_FUNCTIONS: Mapping[str, Callable[[str, str], bool]] = MappingProxyType(
    {
        "startsWith": lambda a, b: a.startswith(b),
        "endsWith": lambda a, b: a.endswith(b),
        "contains": lambda a, b: b in a,
        "matches": _matches,
    }
)
_ARITY = dict.fromkeys(_FUNCTIONS, 2) | dict.fromkeys(STATUS_FUNCTIONS, 0) | {"changed": 1}
CHANGED = "changed()"  # the variable holding the changed paths, joined by NUL


# The syntax tree. `offset` is where the node's token stands (an operator's, for operations).
@dataclass(frozen=True)
class Literal:
    value: str | bool
    offset: int
    positions: tuple[int, ...] = field(default=(), repr=False, compare=False)  # of each char


@dataclass(frozen=True)
class Variable:
    name: str
    offset: int


@dataclass(frozen=True)
class Not:
    operand: Node
    offset: int


@dataclass(frozen=True)
class Binary:
    op: str  # "&&", "||", "==" or "!="
    left: Node
    right: Node
    offset: int


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]
    offset: int


Node = Literal | Variable | Not | Binary | Call


@dataclass(frozen=True)
class _Token:
    kind: str  # the operator itself, or "name", "string" or "end"
    text: str  # as written; for strings, the value
    offset: int
    positions: tuple[int, ...] = ()  # for strings: the source offset of each character of text


_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<op>&&|\|\||==|!=|[!(),])|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)"
)
_TYPE_NAMES = {str: "a string", bool: "a boolean"}
_HINTS = {"&": ' (did you mean "&&"?)', "|": ' (did you mean "||"?)', "=": ' (did you mean "=="?)'}


def _unwrap(source: str) -> tuple[int, int]:
    """The range of `source` holding the expression, inside an optional `${{ }}`."""
    lo, hi = len(source) - len(source.lstrip()), len(source.rstrip())
    if not source.startswith("${{", lo):
        return 0, len(source)
    if hi - lo < 5 or not source.endswith("}}", 0, hi):
        inner = source.find("}}", lo + 3, hi)
        if inner >= 0:
            message = '"}}" ends "${{" before the end: "${{ }}" must enclose the whole condition'
            raise ConditionError(message, inner)
        raise ConditionError('"${{" without a closing "}}"', lo)
    return lo + 3, hi - 2


def _tokens(source: str) -> list[_Token]:
    lo, hi = _unwrap(source)
    text, i = source[:hi], lo
    tokens: list[_Token] = []
    while i < hi:
        if text[i] in "'\"":
            token, i = _string(text, i)
            tokens.append(token)
            continue
        match = _TOKEN.match(text, i)
        if match is None:
            raise ConditionError(f'unexpected character "{text[i]}"{_HINTS.get(text[i], "")}', i)
        if match.lastgroup != "space":
            kind = match.group() if match.lastgroup == "op" else "name"
            tokens.append(_Token(kind, match.group(), i))
        i = match.end()
    return [*tokens, _Token("end", "", hi)]


def _string(text: str, start: int) -> tuple[_Token, int]:
    quote, i = text[start], start + 1
    chars: list[str] = []
    positions: list[int] = []
    while i < len(text):
        char, step = text[i], 1
        if char == quote == "'" and text.startswith("'", i + 1):
            step = 2
        elif char == quote:
            return _Token("string", "".join(chars), start, tuple(positions)), i + 1
        elif char == "\\" and quote == '"':
            if not text.startswith(('"', "\\"), i + 1):
                raise ConditionError('unknown escape: only \\" and \\\\ are allowed', i)
            char, step = text[i + 1], 2
        chars.append(char)
        positions.append(i)
        i += step
    raise ConditionError("unterminated string", start)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of condition"
    return f'string "{token.text}"' if token.kind == "string" else f'"{token.text}"'


def _known(token: _Token, names: Collection[str], kind: str) -> str:
    if token.text in names:
        return token.text
    known = sorted(names)
    close = difflib.get_close_matches(token.text, known, n=1) or difflib.get_close_matches(
        token.text.rsplit(".", 1)[-1], known, n=1
    )
    hint = f'; did you mean "{close[0]}"?' if close else ""
    message = f'unknown {kind} "{token.text}"{hint} (known: {", ".join(known)})'
    raise ConditionError(message, token.offset)


def _type(node: Node) -> type:
    if isinstance(node, Literal):
        return type(node.value)
    return variable_type(node.name) if isinstance(node, Variable) else bool


def variable_type(name: str) -> type:
    """The type of a variable: `needs.<job>.result` is a string."""
    return str if NEEDS_RESULT.match(name) else VARIABLES[name]


def _known_variable(token: _Token) -> str:
    return token.text if NEEDS_RESULT.match(token.text) else _known(token, VARIABLES, "variable")


def _check_result(node: Node, other: Node) -> None:
    """`needs.<job>.result` is compared with a string literal, nothing else."""
    if (
        isinstance(node, Variable)
        and NEEDS_RESULT.match(node.name)
        and not isinstance(other, Literal)
    ):
        message = f"{node.name} can only be compared with a string such as 'failure'"
        raise ConditionError(message, node.offset)


def _typed(node: Node, expected: type, context: str) -> Node:
    """`node`, if its value has the `expected` type; `context` names what needs that type."""
    actual = _type(node)
    if actual is not expected:
        what = f'variable "{node.name}"' if isinstance(node, Variable) else "this expression"
        if isinstance(node, Literal) and isinstance(node.value, str):
            what = f'the string "{node.value}"'
        message = f"{context} needs {_TYPE_NAMES[expected]}, but {what} is {_TYPE_NAMES[actual]}"
        raise ConditionError(message, node.offset)
    return node


def _check_glob(node: Node, function: str = "matches") -> None:
    """Check a literal pattern given to matches() or changed(); errors point at the offending
    character."""
    if not isinstance(node, Literal) or not isinstance(node.value, str):
        return
    at = (*node.positions, node.offset)  # each character's offset, then the opening quote's
    if node.value.startswith("!"):
        message = f"{function}() takes one pattern; negate with !{function}(...)"
        raise ConditionError(message, at[0])
    try:
        compile_pattern(node.value)
    except GlobError as error:
        message = f"invalid pattern: {error.message}"
        raise ConditionError(message, at[min(error.offset, len(at) - 1)]) from None


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self, kind: str | None = None) -> _Token:
        token = self.tokens[self.pos]
        if kind is not None and token.kind != kind:
            raise ConditionError(f'expected "{kind}", found {_describe(token)}', token.offset)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def condition(self) -> Node:
        node = self.logic("||")
        if self.peek().kind != "end":
            raise ConditionError(f"unexpected {_describe(self.peek())}", self.peek().offset)
        return _typed(node, bool, "a condition")

    def logic(self, op: str) -> Node:
        node = self.logic("&&") if op == "||" else self.negation()
        while self.peek().kind == op:
            offset = self.take().offset
            right = self.logic("&&") if op == "||" else self.negation()
            node = Binary(op, _typed(node, bool, f'"{op}"'), _typed(right, bool, f'"{op}"'), offset)
        return node

    def negation(self) -> Node:
        if self.peek().kind != "!":
            return self.comparison()
        offset = self.take().offset
        return Not(_typed(self.negation(), bool, '"!"'), offset)

    def comparison(self) -> Node:
        left = self.primary()
        if self.peek().kind not in ("==", "!="):
            if isinstance(left, Variable) and NEEDS_RESULT.match(left.name):
                message = f"{left.name} can only be compared with == or != to a string"
                raise ConditionError(message, left.offset)
            return left
        op = self.take()
        right = self.primary()
        _check_result(left, right)
        _check_result(right, left)
        if _type(left) is not _type(right):
            a, b = _TYPE_NAMES[_type(left)], _TYPE_NAMES[_type(right)]
            message = f"cannot compare {a} with {b}"
            raise ConditionError(message, op.offset)
        return Binary(op.kind, left, right, op.offset)

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.logic("||")
            self.take(")")
            return node
        if token.kind == "string":
            return Literal(token.text, token.offset, token.positions)
        if token.kind != "name":
            raise ConditionError(f"unexpected {_describe(token)}", token.offset)
        if token.text in ("true", "false"):
            return Literal(token.text == "true", token.offset)
        if self.peek().kind == "(":
            return self.call(token)
        return Variable(_known_variable(token), token.offset)

    def call(self, name: _Token) -> Node:
        function = _known(name, _ARITY, "function")
        self.take("(")
        if _ARITY[function] == 0 and self.peek().kind != ")":
            message = (
                f"{function}() takes no arguments: it looks at the jobs this one needs "
                "(read one with needs.<job>.result)"
            )
            raise ConditionError(message, self.peek().offset)
        args = [] if self.peek().kind == ")" else [self.logic("||")]
        while self.peek().kind == ",":
            self.take()
            args.append(self.logic("||"))
        self.take(")")
        if len(args) != _ARITY[function]:
            arity = _ARITY[function]
            what = f"{arity} argument{'s' if arity != 1 else ''}"
            raise ConditionError(f"{function}() takes {what}, got {len(args)}", name.offset)
        for number, arg in enumerate(args, 1):
            _typed(arg, str, f"argument {number} of {function}()")
        if function == "changed":
            _check_glob(args[0], function)
        if function == "matches":
            _check_glob(args[1])
        return Call(function, tuple(args), name.offset)


def _evaluate(node: Node, variables: Mapping[str, str | bool]) -> str | bool:
    match node:
        case Literal(value=value):
            return value
        case Variable(name=name):
            value = variables[name]  # a KeyError names a variable the caller did not provide
            if not isinstance(value, variable_type(name)):
                kind = variable_type(name).__name__
                raise TypeError(f"condition variable {name!r} must be {kind}")
            return value
        case Call(function="always"):
            return True
        case Call(function=function, args=()):
            return variables[f"{function}()"] is True  # the status functions
        case Call(function="changed", args=(pattern,)):
            return _changed(str(_evaluate(pattern, variables)), variables.get(CHANGED))
        case Not(operand=operand):
            return _evaluate(operand, variables) is not True
        case Binary(op="&&", left=left, right=right):
            return _evaluate(left, variables) is True and _evaluate(right, variables) is True
        case Binary(op="||", left=left, right=right):
            return _evaluate(left, variables) is True or _evaluate(right, variables) is True
        case Binary(op=op, left=left, right=right):
            a, b = _evaluate(left, variables), _evaluate(right, variables)
            return type(a) is type(b) and (a == b) == (op == "==")
        case Call(function=function, args=args):
            a, b = (str(_evaluate(arg, variables)) for arg in args)
            return _FUNCTIONS[function](a, b)
    raise TypeError(f"not a condition node: {node!r}")


@dataclass(frozen=True)
class Condition:
    """A parsed, type-checked condition; `Condition(source)` raises `ConditionError` if invalid."""

    source: str
    _tree: Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tree", _Parser(_tokens(self.source)).condition())

    def evaluate(self, variables: Mapping[str, str | bool]) -> bool:
        """The condition's value; `variables` maps each name of `VARIABLES` to its value (and,
        when the condition uses them, `success()`, `failure()`, `cancelled()` and each
        `needs.<job>.result` to theirs; `CHANGED` to the changed paths joined by NUL, which
        `changed()` reads: without it, `changed()` is true)."""
        return _evaluate(self._tree, variables) is True

    @property
    def tree(self) -> Node:
        """The syntax tree."""
        return self._tree

    @property
    def result_aware(self) -> bool:
        """Whether the condition uses a status function or `needs.<job>.result`; one that
        does not holds only when every needed job succeeded."""
        return any(
            (isinstance(n, Call) and n.function in STATUS_FUNCTIONS)
            or (isinstance(n, Variable) and NEEDS_RESULT.match(n.name) is not None)
            for n in walk(self._tree)
        )

    @property
    def needed_results(self) -> frozenset[str]:
        """The jobs whose `needs.<job>.result` the condition reads."""
        found = (NEEDS_RESULT.match(n.name) for n in walk(self._tree) if isinstance(n, Variable))
        return frozenset(m.group(1) for m in found if m)


def _changed(pattern: str, paths: str | bool | None) -> bool:
    """Whether a changed path matches `pattern`; true when the paths are unknown."""
    if not isinstance(paths, str):
        return True
    return any(_matches(path, pattern) for path in paths.split("\0") if path)


def value_of(node: Node, variables: Mapping[str, str | bool]) -> str | bool:
    """The value of one node of a condition's tree (see `Condition.evaluate`)."""
    return _evaluate(node, variables)


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node below it."""
    yield node
    match node:
        case Not(operand=operand):
            yield from walk(operand)
        case Binary(left=left, right=right):
            yield from walk(left)
            yield from walk(right)
        case Call(args=args):
            for arg in args:
                yield from walk(arg)


def parse(source: str) -> Condition:
    """Parse and check a condition; raises `ConditionError` pointing into `source`."""
    return Condition(source)


def name_errors(source: str) -> list[ConditionError]:
    """Every unknown variable and function of `source` (parse stops at the first error)."""
    try:
        tokens = _tokens(source)
    except ConditionError:
        return []
    found = []
    for token, after in itertools.pairwise(tokens):
        if token.kind != "name" or token.text in ("true", "false"):
            continue
        call = after.kind == "("
        try:
            if call:
                _known(token, _ARITY, "function")
            else:
                _known_variable(token)
        except ConditionError as error:
            found.append(error)
    return found


def never_true(condition: Condition) -> list[ConditionError]:
    """Comparisons of a variable with a value it never takes (`event == 'tags'`,
    `branch == 'refs/heads/main'`), each at the value."""
    found: list[ConditionError] = []
    stack: list[Node] = [condition._tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, Binary) and node.op in ("&&", "||"):
            stack += [node.right, node.left]
        elif isinstance(node, Binary) or (isinstance(node, Call) and len(node.args) == 2):
            pair = (node.left, node.right) if isinstance(node, Binary) else node.args
            prefix = isinstance(node, Call) and node.function in ("startsWith", "matches")
            found += _impossible(*pair, prefix=prefix)
    return found


def _impossible(a: Node, b: Node, *, prefix: bool) -> list[ConditionError]:
    if not prefix and isinstance(a, Literal):
        a, b = b, a
    if not isinstance(a, Variable) or not isinstance(b, Literal) or not isinstance(b.value, str):
        return []
    value, name = b.value, a.name
    values = RESULTS if NEEDS_RESULT.match(name) else VALUES.get(name)
    if values is not None and not prefix and value not in values:
        close = difflib.get_close_matches(value, values, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        message = f'{name} is never "{value}": it is one of {", ".join(values)}{hint}'
        return [ConditionError(message, b.offset)]
    if name in _SHORT_NAMES and value.startswith("refs/"):
        short = value.split("/", 2)[-1]
        message = f'{name} is a name without "refs/...", never "{value}": write "{short}"'
        return [ConditionError(message, b.offset)]
    if name == "ref" and not prefix and value and not value.startswith("refs/"):
        message = (
            f'ref is a full ref such as "refs/heads/{value}", never "{value}": '
            "compare branch or tag, or write the full ref"
        )
        return [ConditionError(message, b.offset)]
    return []


def may_hold(condition: Condition, known: Mapping[str, str | bool]) -> bool:
    """Whether `condition` can be true when the `known` variables have these values and the
    others any value (three-valued: an unknown operand leaves the result open)."""
    return _partial(condition._tree, known) is not False


def _partial(node: Node, known: Mapping[str, str | bool]) -> str | bool | None:
    match node:
        case Literal(value=value):
            return value
        case Variable(name=name):
            return known.get(name)
        case Not(operand=operand):
            inner = _partial(operand, known)
            return None if inner is None else inner is not True
        case Binary(op="&&" | "||" as op, left=left, right=right):
            a, b = _partial(left, known), _partial(right, known)
            decisive = op == "||"  # the value that decides alone: true for ||, false for &&
            if a is decisive or b is decisive:
                return decisive
            return None if a is None or b is None else not decisive
        case Binary(op=op, left=left, right=right):
            a, b = _partial(left, known), _partial(right, known)
            return None if a is None or b is None else (a == b) == (op == "==")
        case Call(function="always"):
            return True
        case Call(function=function, args=()):
            return known.get(f"{function}()")
        case Call(function="changed"):
            return None
        case Call(function=function, args=args):
            a, b = (_partial(arg, known) for arg in args)
            return None if a is None or b is None else _FUNCTIONS[function](str(a), str(b))
    raise TypeError(f"not a condition node: {node!r}")
