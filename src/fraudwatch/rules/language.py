"""The rule language: a small, typed, side-effect-free expression language, parsed into data.

A rule reads like a Python condition over transaction fields and features::

    amount > 500 and ip_country != billing_country and tx_count_1h_by_card >= 3
    card_token in blocked_cards or merchant_country in ("RU", "KP")
    coalesce(amount_ratio_to_mean_30d_by_customer, 0) > 8 and not is_null(device_id)

The text is parsed with Python's own parser and then rebuilt, node by node, into the small tree
of `Node`s below — only the constructs listed here exist, so there is nothing to escape from:
no attribute access, subscripts, imports, lambdas, comprehensions, assignments, or calls other
than `FUNCTIONS`. Every name must be a known field or feature (`Vocabulary`) or, on the right of
`in` / `not in`, a named list. Types are checked (numbers, strings, booleans), so `"a" * 10**9`
cannot exist, and sizes are bounded (`MAX_*`), so every rule does a small, fixed amount of work.

Missing values follow SQL: a comparison with a missing value is *unknown*, `and`/`or`/`not` use
three-valued logic, and a rule fires only when its condition is true.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from fraudwatch.errors import FraudwatchError

MAX_LENGTH = 2000
MAX_NODES = 300
MAX_DEPTH = 32
MAX_STRING = 256


class Type(StrEnum):
    NUM = "number"
    STR = "string"
    BOOL = "boolean"


class RuleSyntaxError(FraudwatchError):
    """A rule's text is not a valid, safe expression: the message points at the problem."""

    code = "invalid_rule"

    def __init__(self, message: str, text: str = "", column: int | None = None) -> None:
        self.column = column
        self.problem = message  # without the place (the API returns the column on its own)
        where = ""
        if text and column is not None:
            where = f" (column {column + 1})\n  {text}\n  {' ' * column}^"
        super().__init__(message + where)


# -- the tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    type: Type


@dataclass(frozen=True)
class Const(Node):
    value: float | str | bool


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: Literal["not", "neg"]
    operand: Node


@dataclass(frozen=True)
class Arith(Node):
    op: Literal["+", "-", "*", "/"]
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Node
    right: Node


@dataclass(frozen=True)
class Member(Node):
    """`item in container`: a literal set of constants or a named list (`list_name`)."""

    item: Node
    negated: bool
    values: frozenset[float | str] | None = None
    list_name: str | None = None


@dataclass(frozen=True)
class Logic(Node):
    op: Literal["and", "or"]
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]


#: allowed functions: name -> (argument types or None for "all the same type", result type rule)
FUNCTIONS: dict[str, str] = {
    "abs": "abs(number) -> number",
    "min": "min(number, number, ...) -> number (missing if any is missing)",
    "max": "max(number, number, ...) -> number (missing if any is missing)",
    "coalesce": "coalesce(x, y, ...) -> the first present value (all of one type)",
    "is_null": "is_null(x) -> boolean, true when x is missing",
    "lower": "lower(string) -> string",
    "upper": "upper(string) -> string",
    "startswith": "startswith(string, prefix) -> boolean",
}


@dataclass(frozen=True)
class Vocabulary:
    """What a rule may name: fields and features with their types, and the named lists."""

    names: dict[str, Type]
    lists: frozenset[str] = frozenset()

    def with_lists(self, lists: set[str] | frozenset[str]) -> Vocabulary:
        return Vocabulary(self.names, frozenset(lists))


def names_in(node: Node) -> frozenset[str]:
    """The field and feature names a tree reads."""
    if isinstance(node, Name):
        return frozenset({node.name})
    children: tuple[Node, ...] = ()
    if isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Arith | Compare):
        children = (node.left, node.right)
    elif isinstance(node, Member):
        children = (node.item,)
    elif isinstance(node, Logic):
        children = node.operands
    elif isinstance(node, Call):
        children = node.args
    return frozenset().union(*(names_in(child) for child in children))


def parse(text: str, vocabulary: Vocabulary) -> Node:
    """Parse and check a rule condition; the result is boolean-typed."""
    if len(text) > MAX_LENGTH:
        raise RuleSyntaxError(f"a rule is at most {MAX_LENGTH} characters, this one {len(text)}")
    if not text.strip():
        raise RuleSyntaxError("the rule's condition is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        column = (exc.offset or 1) - 1
        raise RuleSyntaxError(f"syntax error: {exc.msg}", text.strip(), column) from None
    builder = _Builder(text.strip(), vocabulary)
    node = builder.build(tree.body, 0)
    if node.type is Type.STR:
        raise RuleSyntaxError("the condition is a string, not a true/false test", builder.text, 0)
    return builder.as_test(node, tree.body)


class _Builder:
    def __init__(self, text: str, vocabulary: Vocabulary) -> None:
        self.text = text
        self.vocabulary = vocabulary
        self.nodes = 0

    def fail(self, message: str, node: ast.AST) -> RuleSyntaxError:
        return RuleSyntaxError(message, self.text, getattr(node, "col_offset", None))

    def build(self, node: ast.expr, depth: int) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"the rule is too large (more than {MAX_NODES} parts)", node)
        if depth > MAX_DEPTH:
            raise self.fail(f"the rule nests deeper than {MAX_DEPTH} levels", node)
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is None:
            raise self.fail(_forbidden(node), node)
        built: Node = method(node, depth + 1)
        return built

    # -- leaves --------------------------------------------------------------------------------

    def _constant(self, node: ast.Constant, depth: int) -> Node:
        value = node.value
        if isinstance(value, bool):
            return Const(Type.BOOL, value)
        if isinstance(value, int | float):
            if not math.isfinite(float(value)) or abs(value) > 1e18:
                raise self.fail("numbers must be finite and at most 1e18", node)
            return Const(Type.NUM, float(value))
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise self.fail(f"strings are at most {MAX_STRING} characters", node)
            return Const(Type.STR, value)
        raise self.fail(f"{type(value).__name__} literals are not allowed", node)

    def _name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        if name in ("true", "false"):
            return Const(Type.BOOL, name == "true")
        known = self.vocabulary.names.get(name)
        if known is None:
            if name in self.vocabulary.lists:
                raise self.fail(f"the list {name!r} can only be used after `in` / `not in`", node)
            raise self.fail(f"unknown name {name!r}: not a field, feature or named list", node)
        return Name(known, name)

    # -- operators -----------------------------------------------------------------------------

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> Node:
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return Unary(Type.BOOL, "not", self.as_test(operand, node.operand))
        if isinstance(node.op, ast.USub):
            return Unary(Type.NUM, "neg", self._number(operand, node.operand))
        if isinstance(node.op, ast.UAdd):
            return self._number(operand, node.operand)
        raise self.fail("bitwise operators are not allowed", node)

    def _binop(self, node: ast.BinOp, depth: int) -> Node:
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
        op = ops.get(type(node.op))
        if op is None:
            symbol = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%"}.get(type(node.op), "this")
            raise self.fail(f"the operator {symbol} is not allowed (use + - * /)", node)
        left = self._number(self.build(node.left, depth), node.left)
        right = self._number(self.build(node.right, depth), node.right)
        return Arith(Type.NUM, op, left, right)  # type: ignore[arg-type]

    def _boolop(self, node: ast.BoolOp, depth: int) -> Node:
        operands = tuple(self.as_test(self.build(v, depth), v) for v in node.values)
        return Logic(Type.BOOL, "and" if isinstance(node.op, ast.And) else "or", operands)

    def _compare(self, node: ast.Compare, depth: int) -> Node:
        parts: list[Node] = []
        left = self.build(node.left, depth)
        membership = any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
        if membership and len(node.ops) > 1:
            raise self.fail("`in` cannot be chained with other comparisons: use and", node)
        for op, right_ast in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                parts.append(self._member(left, right_ast, isinstance(op, ast.NotIn), depth))
                continue
            symbols = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "=="}
            symbol = symbols.get(type(op), "!=" if isinstance(op, ast.NotEq) else None)
            if symbol is None:
                raise self.fail("`is` / `is not` are not allowed: use is_null(x)", node)
            right = self.build(right_ast, depth)
            if left.type is not right.type:
                raise self.fail(f"cannot compare a {left.type} with a {right.type}", right_ast)
            if left.type is not Type.NUM and symbol not in ("==", "!="):
                raise self.fail(f"{left.type}s can only be compared with == and !=", right_ast)
            parts.append(Compare(Type.BOOL, symbol, left, right))  # type: ignore[arg-type]
            left = right
        return parts[0] if len(parts) == 1 else Logic(Type.BOOL, "and", tuple(parts))

    def _member(self, item: Node, container: ast.expr, negated: bool, depth: int) -> Node:
        if item.type is Type.BOOL:
            raise self.fail("the left side of `in` must be a number or a string", container)
        if isinstance(container, ast.Name) and container.id in self.vocabulary.lists:
            if item.type is not Type.STR:
                raise self.fail("named lists hold strings: the left side must be one", container)
            return Member(Type.BOOL, item, negated, list_name=container.id)
        if isinstance(container, ast.Tuple | ast.List | ast.Set):
            values: set[float | str] = set()
            for element in container.elts:
                constant = self.build(element, depth)
                if not isinstance(constant, Const) or constant.type is not item.type:
                    raise self.fail(f"the list must hold {item.type} constants", element)
                assert not isinstance(constant.value, bool)
                values.add(constant.value)
            return Member(Type.BOOL, item, negated, values=frozenset(values))
        if isinstance(container, ast.Name):
            raise self.fail(f"unknown list {container.id!r}", container)
        raise self.fail('`in` takes a named list or a literal list like ("NL", "DE")', container)

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(_forbidden(node.func), node.func)
        if node.func.id not in FUNCTIONS:
            called = node.func.id
            allowed = ", ".join(sorted(FUNCTIONS))
            raise self.fail(f"calling {called!r} is not allowed (functions: {allowed})", node)
        if node.keywords:
            raise self.fail("functions take no keyword arguments", node)
        name = node.func.id
        args = tuple(self.build(a, depth) for a in node.args)
        return self._typed_call(name, args, node)

    def _typed_call(self, name: str, args: tuple[Node, ...], node: ast.Call) -> Node:
        def need(count: int | None, kind: Type | None) -> None:
            if count is not None and len(args) != count:
                raise self.fail(f"{FUNCTIONS[name]}: takes {count} argument(s)", node)
            if count is None and len(args) < 2:
                raise self.fail(f"{FUNCTIONS[name]}: takes at least 2 arguments", node)
            for arg, source in zip(args, node.args, strict=True):
                if kind is not None and arg.type is not kind:
                    raise self.fail(f"{FUNCTIONS[name]}: this argument is a {arg.type}", source)

        if name == "abs":
            need(1, Type.NUM)
            return Call(Type.NUM, name, args)
        if name in ("min", "max"):
            need(None, Type.NUM)
            return Call(Type.NUM, name, args)
        if name == "coalesce":
            need(None, args[0].type if args else None)
            return Call(args[0].type, name, args)
        if name == "is_null":
            need(1, None)
            return Call(Type.BOOL, name, args)
        if name in ("lower", "upper"):
            need(1, Type.STR)
            return Call(Type.STR, name, args)
        need(2, Type.STR)
        return Call(Type.BOOL, name, args)

    # -- checks --------------------------------------------------------------------------------

    def _number(self, node: Node, source: ast.expr) -> Node:
        if node.type is not Type.NUM:
            raise self.fail(f"expected a number, found a {node.type}", source)
        return node

    def as_test(self, node: Node, source: ast.expr) -> Node:
        """A boolean, or a number used as one (a 0/1 feature flag: true when not zero)."""
        if node.type is Type.STR:
            raise self.fail("a string is not a true/false test: compare it", source)
        if node.type is Type.NUM:
            return Compare(Type.BOOL, "!=", node, Const(Type.NUM, 0.0))
        return node


def _forbidden(node: ast.AST) -> str:
    kind = type(node).__name__
    reasons = {
        "Attribute": "attribute access (`x.y`) is not allowed",
        "Subscript": "indexing (`x[...]`) is not allowed",
        "Lambda": "lambdas are not allowed",
        "IfExp": "`x if c else y` is not allowed: use and/or",
        "ListComp": "comprehensions are not allowed",
        "SetComp": "comprehensions are not allowed",
        "DictComp": "comprehensions are not allowed",
        "GeneratorExp": "comprehensions are not allowed",
        "NamedExpr": "assignments are not allowed",
        "Await": "await is not allowed",
        "Yield": "yield is not allowed",
        "YieldFrom": "yield is not allowed",
        "JoinedStr": "f-strings are not allowed",
        "Starred": "unpacking is not allowed",
        "Dict": "dictionaries are not allowed",
        "Slice": "slices are not allowed",
    }
    return reasons.get(kind, f"{kind} expressions are not allowed here")
