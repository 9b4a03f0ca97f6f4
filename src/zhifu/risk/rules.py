"""规则集 / Rule sets in YAML: parsed, validated with the line of every mistake named, and evaluated.

A rule set holds lists (deny/allow, each of payers or merchants, optionally including other lists) and rules.
A rule has an id, a typology, a stage (`pre_auth`: before the rail is called, reading only the payment and the
lists; `success`: after each success, reading sliding-window features), a subject (merchant or payer), conditions
(`<feature> <op> <integer>`, all must hold), an outcome (review or block), a score and a reason, and may be in
shadow mode (evaluated and recorded, never acted on).
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import re
from collections.abc import Callable
from importlib import resources
from typing import Any, Final

import yaml

from zhifu.risk.features import FeatureError, FeatureRef, parse_feature

STAGES: Final = ("pre_auth", "success")
SUBJECTS: Final = ("merchant", "payer")
OUTCOMES: Final = ("review", "block")
PRE_AUTH_FEATURES: Final = frozenset({"amount_fen", "hour", "is_micro", "is_night", "near_limit"})
RULES_MAX: Final = 500
CONDITIONS_MAX: Final = 12
SOURCE_CHARS_MAX: Final = 200_000
_ID_RE: Final = re.compile(r"^[a-z0-9_.\-]{1,60}$")
_COND_RE: Final = re.compile(r"^\s*(\S+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+)\s*$")
_OPS: Final[dict[str, Callable[[int, int], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
TYPOLOGIES: Final = (
    "cashout",
    "secondary_clearing",
    "paofen",
    "split",
    "relocation",
    "dormant",
    "spike",
    "list",
    "other",
)


class RuleSetError(ValueError):
    """A rule set that cannot be loaded; `line` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"第 {line} 行 / line {line}: {message}" if line else message)
        self.message = message
        self.line = line


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    feature: FeatureRef
    op: str
    value: int

    def holds(self, v: int) -> bool:
        return _OPS[self.op](v, self.value)

    @property
    def text(self) -> str:
        return f"{self.feature.text} {self.op} {self.value}"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    id: str
    typology: str
    stage: str
    subject: str
    conditions: tuple[Condition, ...]
    in_list: str | None
    outcome: str
    score: int
    shadow: bool
    reason: str
    line: int


@dataclasses.dataclass(frozen=True, slots=True)
class ListDef:
    name: str
    subject: str
    kind: str  # deny | allow
    includes: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    lists: dict[str, ListDef]
    source: str
    sha256: str
    version: int = 0

    def stage(self, stage: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.stage == stage)

    def features(self) -> list[FeatureRef]:
        return [c.feature for r in self.rules for c in r.conditions]

    def expand(self, name: str) -> list[str]:
        """A list and every list it includes (no cycles: refused on load)."""
        out, todo = [], [name]
        while todo:
            n = todo.pop()
            if n in out:
                continue
            out.append(n)
            todo.extend(self.lists[n].includes)
        return out


def _line(node: Any) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _map_items(node: Any) -> dict[str, tuple[Any, Any]]:
    """A YAML mapping node's items by key: (key node, value node)."""
    if not isinstance(node, yaml.MappingNode):
        raise RuleSetError("应为映射 / expected a mapping", _line(node))
    out: dict[str, tuple[Any, Any]] = {}
    for k, v in node.value:
        if k.value in out:
            raise RuleSetError(f"重复的键 / duplicate key {k.value!r}", _line(k))
        out[k.value] = (k, v)
    return out


def _scalar(node: Any, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise RuleSetError(f"{what} 应为单个值 / {what} must be a single value", _line(node))
    return str(node.value)


def _int(node: Any, what: str, lo: int, hi: int) -> int:
    text = _scalar(node, what)
    if not re.fullmatch(r"-?\d+", text) or not lo <= int(text) <= hi:
        raise RuleSetError(f"{what} 应为 {lo}–{hi} 的整数 / {what} must be an integer {lo}–{hi}", _line(node))
    return int(text)


def _bool(node: Any, what: str) -> bool:
    text = _scalar(node, what).lower()
    if text not in ("true", "false", "yes", "no"):
        raise RuleSetError(f"{what} 应为 true 或 false / {what} must be true or false", _line(node))
    return text in ("true", "yes")


def _lists(node: Any) -> dict[str, ListDef]:
    out: dict[str, ListDef] = {}
    lines: dict[str, int] = {}
    for name, (knode, vnode) in _map_items(node).items():
        if not _ID_RE.match(name):
            raise RuleSetError(f"名单名不合法 / bad list name {name!r}", _line(knode))
        items = _map_items(vnode)
        unknown = set(items) - {"subject", "kind", "include"}
        if unknown:
            k = items[sorted(unknown)[0]][0]
            raise RuleSetError(f"名单不认识的键 / unknown key {k.value!r} in list {name}", _line(k))
        subject = _scalar(items["subject"][1], "subject") if "subject" in items else ""
        if subject not in SUBJECTS:
            raise RuleSetError(
                f"名单 {name} 的 subject 应为 merchant 或 payer / list {name}: subject must be "
                "merchant or payer",
                _line(vnode),
            )
        kind = _scalar(items["kind"][1], "kind") if "kind" in items else "deny"
        if kind not in ("deny", "allow"):
            raise RuleSetError(
                f"名单 {name} 的 kind 应为 deny 或 allow / kind must be deny or allow",
                _line(items["kind"][1]),
            )
        includes: tuple[str, ...] = ()
        if "include" in items:
            inc = items["include"][1]
            if not isinstance(inc, yaml.SequenceNode):
                raise RuleSetError("include 应为列表 / include must be a list", _line(inc))
            includes = tuple(_scalar(i, "include") for i in inc.value)
        out[name] = ListDef(name, subject, kind, includes)
        lines[name] = _line(knode)
    for name, d in out.items():
        for inc in d.includes:
            if inc not in out:
                raise RuleSetError(
                    f"名单 {name} 包含未定义的名单 {inc} / list {name} includes unknown list {inc}",
                    lines[name],
                )
    _no_cycles(out, lines)
    return out


def _no_cycles(lists: dict[str, ListDef], lines: dict[str, int]) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = " → ".join([*path[path.index(n) :], n])
            raise RuleSetError(f"名单互相包含成环 / lists include each other in a cycle: {cycle}", lines[n])
        state[n] = 1
        for i in lists[n].includes:
            visit(i, [*path, n])
        state[n] = 2

    for n in lists:
        visit(n, [])


def _rule(node: Any, lists: dict[str, ListDef]) -> Rule:
    items = _map_items(node)
    allowed = {"id", "typology", "stage", "subject", "all", "in_list", "outcome", "score", "shadow", "reason"}
    unknown = set(items) - allowed
    if unknown:
        k = items[sorted(unknown)[0]][0]
        raise RuleSetError(f"规则不认识的键 / unknown key {k.value!r} in a rule", _line(k))
    for req in ("id", "stage", "subject", "outcome"):
        if req not in items:
            raise RuleSetError(f"规则缺少 {req} / a rule needs {req}", _line(node))
    rid = _scalar(items["id"][1], "id")
    if not _ID_RE.match(rid):
        raise RuleSetError(f"规则编号不合法 / bad rule id {rid!r}", _line(items["id"][1]))
    stage = _scalar(items["stage"][1], "stage")
    if stage not in STAGES:
        raise RuleSetError(
            f"stage 应为 {' 或 '.join(STAGES)} / stage must be one of {', '.join(STAGES)}",
            _line(items["stage"][1]),
        )
    subject = _scalar(items["subject"][1], "subject")
    if subject not in SUBJECTS:
        raise RuleSetError(
            "subject 应为 merchant 或 payer / subject must be merchant or payer", _line(items["subject"][1])
        )
    outcome = _scalar(items["outcome"][1], "outcome")
    if outcome not in OUTCOMES:
        raise RuleSetError(
            "outcome 应为 review 或 block / outcome must be review or block", _line(items["outcome"][1])
        )
    typology = _scalar(items["typology"][1], "typology") if "typology" in items else "other"
    if typology not in TYPOLOGIES:
        raise RuleSetError(
            f"未知类型 / unknown typology {typology!r}; known: {', '.join(TYPOLOGIES)}",
            _line(items["typology"][1]),
        )
    conds: list[Condition] = []
    if "all" in items:
        seq = items["all"][1]
        if not isinstance(seq, yaml.SequenceNode) or not 1 <= len(seq.value) <= CONDITIONS_MAX:
            raise RuleSetError(
                f"all 应为 1–{CONDITIONS_MAX} 个条件的列表 / all must list 1–{CONDITIONS_MAX} conditions",
                _line(seq),
            )
        for c in seq.value:
            text = _scalar(c, "condition")
            m = _COND_RE.match(text)
            if m is None:
                raise RuleSetError(
                    f"条件写法不对 / cannot read condition {text!r} (feature op integer)", _line(c)
                )
            try:
                ref = parse_feature(m.group(1))
            except FeatureError as exc:
                raise RuleSetError(str(exc), _line(c)) from None
            if stage == "pre_auth" and ref.name not in PRE_AUTH_FEATURES:
                raise RuleSetError(
                    f"授权前规则只能读支付本身的特征 / a pre_auth rule reads only "
                    f"{', '.join(sorted(PRE_AUTH_FEATURES))}, not {ref.text}",
                    _line(c),
                )
            conds.append(Condition(ref, m.group(2), int(m.group(3))))
    in_list = None
    if "in_list" in items:
        in_list = _scalar(items["in_list"][1], "in_list")
        if in_list not in lists:
            raise RuleSetError(f"未定义的名单 / unknown list {in_list!r}", _line(items["in_list"][1]))
        if lists[in_list].subject != subject:
            raise RuleSetError(
                f"名单 {in_list} 的主体不是 {subject} / list {in_list} holds "
                f"{lists[in_list].subject}s, not {subject}s",
                _line(items["in_list"][1]),
            )
    if not conds and in_list is None:
        raise RuleSetError(
            "规则至少要有一个条件或名单 / a rule needs conditions (all) or a list (in_list)", _line(node)
        )
    score = _int(items["score"][1], "score", 0, 100) if "score" in items else 50
    shadow = _bool(items["shadow"][1], "shadow") if "shadow" in items else False
    reason = _scalar(items["reason"][1], "reason")[:200] if "reason" in items else rid
    return Rule(
        rid, typology, stage, subject, tuple(conds), in_list, outcome, score, shadow, reason, _line(node)
    )


def parse_ruleset(source: str, *, version: int = 0) -> RuleSet:
    """Parse and validate; any mistake raises RuleSetError naming its line, and nothing is half-loaded."""
    if len(source) > SOURCE_CHARS_MAX:
        raise RuleSetError(f"规则文件太大 / the rule file is over {SOURCE_CHARS_MAX} characters")
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RuleSetError(
            f"YAML 语法错误 / YAML syntax error: {exc.problem}", mark.line + 1 if mark else 0
        ) from None
    if root is None:
        raise RuleSetError("规则文件是空的 / the rule file is empty", 1)
    top = _map_items(root)
    unknown = set(top) - {"lists", "rules", "version", "description"}
    if unknown:
        k = top[sorted(unknown)[0]][0]
        raise RuleSetError(f"不认识的键 / unknown key {k.value!r}", _line(k))
    lists = _lists(top["lists"][1]) if "lists" in top else {}
    if "rules" not in top or not isinstance(top["rules"][1], yaml.SequenceNode):
        raise RuleSetError("缺少规则列表 rules / the file needs a list of rules", _line(root))
    nodes = top["rules"][1].value
    if not 1 <= len(nodes) <= RULES_MAX:
        raise RuleSetError(f"规则应有 1–{RULES_MAX} 条 / 1–{RULES_MAX} rules", _line(top["rules"][1]))
    rules: list[Rule] = []
    seen: set[str] = set()
    for n in nodes:
        r = _rule(n, lists)
        if r.id in seen:
            raise RuleSetError(f"规则编号重复 / duplicate rule id {r.id}", r.line)
        seen.add(r.id)
        rules.append(r)
    return RuleSet(tuple(rules), lists, source, hashlib.sha256(source.encode()).hexdigest(), version)


def default_source() -> str:
    """The packaged rule pack: the PBOC rules and the county typologies."""
    return resources.files("zhifu.risk").joinpath("packs/default.yaml").read_text(encoding="utf-8")
