"""Parse Go templates the way ``promtool check rules`` does, to refuse at load what it refuses.

Prometheus expands alert annotations and labels with Go's text/template; promtool parses each
one (prometheus/prometheus model/rulefmt/rulefmt.go, ``testTemplateParsing``) after defining
``$labels``, ``$externalLabels``, ``$externalURL`` and ``$value``, with the functions of
template/template.go. This is that parse (text/template/parse: lex.go, parse.go) — lexing,
actions, control structure, defined functions and variables — not an evaluation.
"""

from __future__ import annotations

import re

# text/template's builtins (text/template/funcs.go) and Prometheus' (template/template.go)
GO_BUILTINS = frozenset({
    "and", "break", "call", "continue", "html", "index", "slice", "js", "len", "not", "or",
    "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
})
PROMETHEUS_FUNCTIONS = frozenset({
    "query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml",
    "match", "title", "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel",
    "stripPort", "stripDomain", "humanize", "humanize1024", "humanizeDuration",
    "humanizePercentage", "humanizeTimestamp", "toTime", "pathPrefix", "externalURL",
    "parseDuration",
})
# registered by Prometheus 3.6 (toDuration, now) and 3.8 (urlQueryEscape): rule files using
# them do not load in older Prometheus (the promtool that lint runs is 2.42)
NEWER_FUNCTIONS = {"toDuration": "3.6", "now": "3.6", "urlQueryEscape": "3.8"}
FUNCTIONS = GO_BUILTINS | PROMETHEUS_FUNCTIONS
PREDEFINED = frozenset({"$", "$labels", "$externalLabels", "$externalURL", "$value"})

_SPACE = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "nil", "range",
             "template", "with"}


_TOKEN = re.compile(r"""
    (?P<close>[ \t\r\n]+-\}\}|\}\})
  | (?P<space>[ \t\r\n]+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
        |(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9_]+)?)i?)
  | (?P<dot>\.)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<declare>:=)
  | (?P<punct>[=|,()])
""", re.VERBOSE)


def _lex_problem(text: str, i: int) -> str:
    """text/template's message for what cannot start a token at ``i``."""
    c = text[i]
    return {'"': "unterminated quoted string", "`": "unterminated raw quoted string",
            "'": "unterminated character constant", ":": "expected :=",
            "+": "bad number syntax: '+'", "-": "bad number syntax: '-'"}.get(
        c, f"unrecognized character in action: {c!r}")


class TemplateError(ValueError):
    """A template promtool would refuse; ``offset`` is the 0-based character it concerns."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


# The actions alert text mostly holds ({{ $labels.x }}, {{ $value | humanizePercentage }},
# {{ $value | printf "%.1f" }}): valid as they stand, so a text made only of them needs no parse.
_SIMPLE_ACTION = re.compile(
    r"\{\{(?:-[ \t\r\n])?[ \t\r\n]*\$(?:labels|value|externalLabels|externalURL)"
    r"(?:\.[A-Za-z_][A-Za-z0-9_]*)?"
    r"(?:[ \t\r\n]*\|[ \t\r\n]*(?:humanize(?:1024|Duration|Percentage|Timestamp)?|toUpper"
    r"|toLower|title|printf[ \t\r\n]+\"[^\"\\\n]*\"))*"
    r"[ \t\r\n]*(?:[ \t\r\n]-)?\}\}")


def template_error(text: str) -> TemplateError | None:
    """Why promtool refuses ``text`` as an alert template, or None when it parses."""
    if "{{" not in text or "{{" not in _SIMPLE_ACTION.sub("", text):
        return None
    try:
        _Parser(text).parse()
    except TemplateError as exc:
        return exc
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.controls: list[tuple[str, int]] = []  # (keyword, offset) of open if/range/with/define
        self.scopes: list[set[str]] = [set(PREDEFINED)]

    def parse(self) -> None:
        pos = 0
        while True:
            start = self.text.find("{{", pos)
            if start < 0:
                break
            pos = self._action(start)
        if self.controls:
            keyword, at = self.controls[-1]
            raise TemplateError(f"unexpected EOF: {{{{{keyword}}}}} has no {{{{end}}}}", at)

    def _action(self, start: int) -> int:
        """Parse the action at ``start`` (``{{``); return the offset after its ``}}``."""
        i = start + 2
        if self.text.startswith("-", i) and self.text[i + 1:i + 2] in tuple(_SPACE):
            i += 2
        while i < len(self.text) and self.text[i] in _SPACE:
            i += 1
        if self.text.startswith("/*", i):
            end = self.text.find("*/", i + 2)
            if end < 0:
                raise TemplateError("unclosed comment", start)
            after = end + 2
            if self.text.startswith(" -}}", after):
                return after + 4
            if self.text.startswith("}}", after):
                return after + 2
            raise TemplateError("comment ends before closing delimiter", start)
        tokens, end = self._lex(i, start)
        self._statement(tokens, start)
        return end

    def _lex(self, i: int, start: int) -> tuple[list[tuple[str, str, int]], int]:
        """Tokens (kind, text, offset) of one action up to its ``}}``."""
        text = self.text
        tokens: list[tuple[str, str, int]] = []
        parens = 0
        while True:
            found = _TOKEN.match(text, i)
            if found is None:
                if i >= len(text):
                    raise TemplateError("unclosed action", start)
                raise TemplateError(_lex_problem(text, i), i)
            kind = found.lastgroup or ""
            word = found.group()
            if kind == "close":
                if parens:
                    raise TemplateError("unclosed left paren", start)
                return tokens, found.end()
            if kind == "number" and text[found.end():found.end() + 1].isalnum():
                raise TemplateError(f"bad number syntax: {word + text[found.end()]!r}", i)
            if kind == "punct":
                kind = word
                parens += {"(": 1, ")": -1}.get(word, 0)
                if parens < 0:
                    raise TemplateError("unexpected right paren", i)
            elif kind == "word":
                kind = "bool" if word in ("true", "false") else \
                    "keyword" if word in _KEYWORDS else "identifier"
            elif kind in ("raw", "char"):
                kind = "string" if kind == "raw" else "number"
            if kind != "space":
                tokens.append((kind, word, i))
            i = found.end()

    def _statement(self, tokens: list[tuple[str, str, int]], start: int) -> None:
        if not tokens:
            raise TemplateError("missing value for command", start)
        kind, word, at = tokens[0]
        if kind != "keyword" or word == "nil":
            self._pipeline(tokens, start, declare_scope=self.scopes[-1])
            return
        rest = tokens[1:]
        if word in ("if", "with", "range"):
            self.controls.append((word, at))
            self.scopes.append(set())
            self._pipeline(rest, at, declare_scope=self.scopes[-1], context=word)
        elif word == "else":
            if not self.controls or self.controls[-1][0] == "define":
                raise TemplateError("unexpected {{else}}", at)
            if rest and rest[0][1] in ("if", "with"):
                self.scopes[-1] = set()
                self._pipeline(rest[1:], at, declare_scope=self.scopes[-1], context=rest[0][1])
            elif rest:
                raise TemplateError(f"unexpected {rest[0][1]!r} in else", rest[0][2])
        elif word == "end":
            if rest:
                raise TemplateError(f"unexpected {rest[0][1]!r} in end", rest[0][2])
            if not self.controls:
                raise TemplateError("unexpected {{end}}", at)
            self.controls.pop()
            self.scopes.pop()
        elif word in ("break", "continue"):
            if not any(k == "range" for k, _ in self.controls):
                raise TemplateError(f"{{{{{word}}}}} outside {{{{range}}}}", at)
            if rest:
                raise TemplateError(f"unexpected {rest[0][1]!r} in {word}", rest[0][2])
        elif word in ("define", "template", "block"):
            if not rest or rest[0][0] != "string":
                raise TemplateError(f"{word}: expected a quoted template name", at)
            if word == "define":
                if self.controls:
                    raise TemplateError("unexpected {{define}} inside a control", at)
                self.controls.append(("define", at))
                self.scopes.append({"$"})
            elif len(rest) > 1:
                self._pipeline(rest[1:], at, declare_scope=self.scopes[-1])
                if word == "block":
                    self.controls.append(("block", at))
                    self.scopes.append({"$"})
            elif word == "block":
                raise TemplateError("block: missing pipeline", at)

    def _defined(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def _pipeline(self, tokens: list[tuple[str, str, int]], start: int, *,
                  declare_scope: set[str], context: str = "command") -> None:
        declared: list[str] = []
        if tokens and tokens[0][0] == "variable":
            names = [tokens[0]]
            j = 1
            if context == "range" and len(tokens) > 2 and tokens[1][0] == ",":
                names.append(tokens[2])
                j = 3
            if len(tokens) > j and tokens[j][0] in ("declare", "="):
                declared = [name for _, name, _ in names] if tokens[j][0] == "declare" else []
                tokens = tokens[j + 1:]
        if not tokens:
            raise TemplateError(f"missing value for {context}", start)
        stages: list[list[tuple[str, str, int]]] = [[]]
        depth = 0
        for tok in tokens:
            if tok[0] == "(":
                depth += 1
            elif tok[0] == ")":
                depth -= 1
            if tok[0] == "|" and depth == 0:
                stages.append([])
            else:
                stages[-1].append(tok)
        for n, stage in enumerate(stages):
            self._command(stage, start, first=n == 0, stage=n + 1)
        declare_scope.update(declared)

    def _command(self, tokens: list[tuple[str, str, int]], start: int, *, first: bool,
                 stage: int) -> None:
        if not tokens:
            raise TemplateError("missing value for command", start)
        head = tokens[0]
        if not first and head[0] in ("string", "number", "bool", "dot", "keyword") \
                and len(tokens) == 1:
            raise TemplateError(f"non executable command in pipeline stage {stage}", head[2])
        i = 0
        while i < len(tokens):
            kind, word, at = tokens[i]
            if kind == "(":
                close, depth = i, 0
                for close in range(i, len(tokens)):
                    depth += {"(": 1, ")": -1}.get(tokens[close][0], 0)
                    if depth == 0:
                        break
                inner = tokens[i + 1:close]
                self._pipeline(inner, at, declare_scope=set(), context="parenthesized pipeline")
                i = close + 1
                continue
            if kind == "identifier":
                if word in NEWER_FUNCTIONS:
                    raise TemplateError(
                        f"function {word!r} not defined in Prometheus before "
                        f"{NEWER_FUNCTIONS[word]} (mlops-dash output loads in 2.42 and later)",
                        at)
                if word not in FUNCTIONS:
                    import difflib  # only for a problem

                    close = difflib.get_close_matches(word, sorted(FUNCTIONS), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise TemplateError(f"function {word!r} not defined{hint}", at)
            elif kind == "variable" and not self._defined(word):
                raise TemplateError(f"undefined variable {word!r}", at)
            elif kind == "keyword" and word != "nil":
                raise TemplateError(f"unexpected {word!r} in command", at)
            elif kind in ("declare", "=", ","):
                raise TemplateError(f"unexpected {word!r} in command", at)
            i += 1
