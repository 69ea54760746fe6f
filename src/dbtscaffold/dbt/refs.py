"""Rewrite `ref('SEED')` into `source('SRC', 'SEED')` over Jinja (or Python) tokens.

Each function takes text and returns `(new_text, replacements)`. Spans to replace are
collected from the token stream and applied back to front, so every byte outside a
matched call (line endings included) stays as it was.

Jinja's lexer normalises line endings before it tokenizes; token positions are found in
that normalised text and mapped back to the original by (line, column), which is the
same in both.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
# A bare `ref(` in YAML text (e.g. `to: ref('x')`), not part of a longer name or attribute.
_BARE_REF_RE = re.compile(r"(?<![\w.])ref\s*\(")
_BLOCK_SCALAR_RE = re.compile(r"(?:^|[\s:-])[|>][0-9+-]*\s*(?:#.*)?$")


class RefSyntaxError(ValueError):
    """The file's Jinja (or Python) cannot be tokenized; `line` is 1-based."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.path: str = ""  # set by rewrite_refs_in


@dataclass(frozen=True)
class RefTarget:
    """Which refs to rewrite (`ref(SEED)`, `ref(PROJECT, SEED)`) and into which source."""

    seed: str
    project: str
    source: str

    def replacement(self, quote: str) -> str:
        return f"source({quote}{self.source}{quote}, {quote}{self.seed}{quote})"


class _Tok(NamedTuple):
    # A tuple, not a dataclass: a project's refs are tens of thousands of tokens.
    start: int
    end: int
    type: str
    value: str


class _Lines:
    """Maps offsets in Jinja's newline-normalised text back to the original text."""

    def __init__(self, original: str) -> None:
        self.orig_starts = [0] + [m.end() for m in _NEWLINE_RE.finditer(original)]
        lines = _NEWLINE_RE.split(original)
        self.norm_starts = [0]
        for line in lines[:-1]:
            self.norm_starts.append(self.norm_starts[-1] + len(line) + 1)

    def to_original(self, norm_offset: int) -> int:
        i = bisect.bisect_right(self.norm_starts, norm_offset) - 1
        return self.orig_starts[i] + (norm_offset - self.norm_starts[i])


def _lexer() -> Any:
    import jinja2

    global _LEXER
    if _LEXER is None:
        _LEXER = jinja2.Environment(keep_trailing_newline=True).lexer
    return _LEXER


_LEXER: Any = None


def _tokens(norm: str, state: str | None = None, until: int | None = None) -> Iterator[_Tok]:
    """Jinja tokens of NORM with their offsets (found by walking a cursor through NORM).

    Each raw token value is a literal slice of NORM, in order; the only text between two
    tokens is whitespace removed by `{{-`/`-}}` controls, so `find` lands on the token.
    With UNTIL (where the last mention of a seed ends), the tokens stop four significant
    ones after it: enough to close any ref call naming the seed (`', 'x')` at most), and
    the lexer, which reads left to right, has then said all it will about what came before.
    """
    import jinja2

    cursor = 0
    after = 0
    try:
        for _lineno, ttype, value in _lexer().tokeniter(norm, None, state=state):
            if not value:
                continue
            start = norm.find(value, cursor)
            if start < 0:  # pragma: no cover - would be a jinja2 change; fail loudly
                raise AssertionError(f"token {value!r} not found after offset {cursor}")
            cursor = start + len(value)
            yield _Tok(start, cursor, ttype, value)
            if until is not None and start >= until and ttype != "whitespace":
                after += 1
                if after == 4:
                    return
    except jinja2.TemplateSyntaxError as e:
        raise RefSyntaxError(e.message or str(e), e.lineno) from None


def _unquote(tok: _Tok) -> tuple[str, str] | None:
    """(quote, value) of a plain string literal token, or None if it has escapes."""
    v = tok.value
    if len(v) < 2 or v[0] not in "'\"" or v[-1] != v[0] or "\\" in v:
        return None
    return v[0], v[1:-1]


def _match_call(toks: list[_Tok], i: int, target: RefTarget) -> tuple[int, str] | None:
    """If toks[i] starts a ref call to the seed, (index of its `)`, quote char)."""
    sig = [j for j in range(i + 1, min(len(toks), i + 40)) if toks[j].type != "whitespace"]
    if not sig or toks[sig[0]].value != "(":
        return None
    args: list[tuple[str, str]] = []
    k = 1
    while k < len(sig):
        tok = toks[sig[k]]
        if tok.type != "string":
            return None
        lit = _unquote(tok)
        if lit is None:
            return None
        args.append(lit)
        k += 1
        if k >= len(sig):
            return None
        sep = toks[sig[k]].value
        if sep == ")":
            break
        if sep != "," or len(args) >= 2:
            return None
        k += 1
    else:
        return None
    names = [a[1] for a in args]
    if names == [target.seed] or names == [target.project, target.seed]:
        return sig[k], args[-1][0]
    return None


def _expression_spans(
    toks: list[_Tok], target: RefTarget, offset: int = 0
) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every matching ref call among TOKS (Jinja expressions)."""
    spans = []
    prev: _Tok | None = None
    for i, tok in enumerate(toks):
        if tok.type == "name" and tok.value == "ref" and not (prev and prev.value == "."):
            m = _match_call(toks, i, target)
            if m is not None:
                end_i, quote = m
                spans.append(
                    (offset + tok.start, offset + toks[end_i].end, target.replacement(quote))
                )
        if tok.type != "whitespace":
            prev = tok
    return spans


def _apply(text: str, lines: _Lines | None, spans: list[tuple[int, int, str]]) -> str:
    out = text
    for start, end, repl in sorted(spans, reverse=True):
        if lines is not None:
            start, end = lines.to_original(start), lines.to_original(end)
        out = out[:start] + repl + out[end:]
    return out


def _normalise(text: str) -> str:
    if "\r" not in text:
        return text  # already as Jinja's lexer has it
    return "\n".join(_NEWLINE_RE.split(text))


def _lines(text: str) -> _Lines | None:
    """The offset map of TEXT, None when offsets need no mapping (no `\r` in it)."""
    return _Lines(text) if "\r" in text else None


def rewrite_jinja_refs(text: str, target: RefTarget) -> tuple[str, int]:
    """Rewrite ref calls to the seed inside `{{ }}` / `{% %}` of a Jinja-SQL file.

    Refs inside `{# #}` comments and `{% raw %}` blocks, and plain text outside Jinja,
    are left alone. Raises RefSyntaxError when the Jinja cannot be tokenized.
    """
    if target.seed not in text:
        return text, 0
    norm = _normalise(text)
    spans = _expression_spans(list(_tokens(norm, until=_last_mention(norm, target))), target)
    if not spans:
        return text, 0
    return _apply(text, _lines(text), spans), len(spans)


def _last_mention(norm: str, target: RefTarget) -> int | None:
    """Where the last mention of the seed in NORM ends (None when there is none)."""
    at = norm.rfind(target.seed)
    return None if at < 0 else at + len(target.seed)


def _mask_yaml_comments(norm: str) -> str:
    """NORM with every YAML comment replaced by spaces (same length, so offsets hold).

    A heuristic per line: `#` at the start or after whitespace, outside quotes, starts a
    comment, except inside block scalars (`|`, `>`), whose lines are text.
    """
    out = []
    block_indent: int | None = None
    for line in norm.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if not stripped or indent > block_indent:
                out.append(line)
                continue
            block_indent = None
        quote = ""
        cut = len(line)
        for i, ch in enumerate(line if "#" in line else ""):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and (i == 0 or line[i - 1] in " \t:-[{,"):
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                cut = i
                break
        code = line[:cut]
        if _BLOCK_SCALAR_RE.search(code.rstrip()):
            block_indent = indent
        out.append(code + " " * (len(line) - cut))
    return "\n".join(out)


def rewrite_yaml_refs(text: str, target: RefTarget) -> tuple[str, int]:
    """Rewrite refs to the seed in a YAML file: bare `ref('x')` values and `{{ ref('x') }}`.

    dbt evaluates YAML values such as `relationships: to: ref('x')` or exposures'
    `depends_on` as Jinja expressions, so bare calls count; YAML comments do not.
    """
    if target.seed not in text:
        return text, 0
    norm = _mask_yaml_comments(_normalise(text))
    spans: list[tuple[int, int, str]] = []
    toks = list(_tokens(norm, until=_last_mention(norm, target)))
    spans.extend(_expression_spans(toks, target))
    for tok in toks:
        if tok.type != "data" or "ref" not in tok.value:
            continue
        for m in _BARE_REF_RE.finditer(tok.value):
            snippet = tok.value[m.start() :]
            call: list[_Tok] = []
            try:
                # Lex the call as an expression; stop at its closing parenthesis.
                for t in _tokens(snippet, state="variable"):
                    call.append(t)
                    if t.value == ")" or len(call) > 40:
                        break
            except RefSyntaxError:
                continue
            found = _expression_spans(call[:1] + call[1:], target, offset=tok.start + m.start())
            spans.extend(found[:1])
    if not spans:
        return text, 0
    return _apply(text, _lines(text), spans), len(spans)


def rewrite_python_refs(text: str, target: RefTarget) -> tuple[str, int]:
    """Rewrite `dbt.ref('SEED')` in a dbt Python model into `dbt.source('SRC', 'SEED')`."""
    import io
    import tokenize

    if target.seed not in text:
        return text, 0
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(text, newline="").readline))
    except (tokenize.TokenError, SyntaxError) as e:
        line = e.args[1][0] if len(e.args) > 1 and isinstance(e.args[1], tuple) else None
        raise RefSyntaxError(str(e.args[0]), line) from None
    # Offsets of each line start in TEXT as tokenize splits lines (keeping \r\n etc.).
    starts = [0]
    for line in io.StringIO(text, newline="").readlines():
        starts.append(starts[-1] + len(line))
    skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    toks = []
    for t in raw:
        if t.type in skip or t.type == tokenize.ENDMARKER:
            continue
        ttype = {tokenize.NAME: "name", tokenize.STRING: "string"}.get(t.type, "operator")
        start = starts[t.start[0] - 1] + t.start[1]
        end = starts[t.end[0] - 1] + t.end[1]
        toks.append(_Tok(start, end, ttype, t.string))
    spans = []
    for i in range(2, len(toks)):
        tok = toks[i]
        if tok.value == "ref" and toks[i - 1].value == "." and toks[i - 2].value == "dbt":
            m = _match_call(toks, i, target)
            if m is not None:
                spans.append((tok.start, toks[m[0]].end, target.replacement(m[1])))
    if not spans:
        return text, 0
    return _apply(text, None, spans), len(spans)


def rewrite_refs(text: str, target: RefTarget, kind: str) -> tuple[str, int]:
    """Dispatch on KIND: "sql" (any Jinja file), "yaml" or "python"."""
    if kind == "yaml":
        return rewrite_yaml_refs(text, target)
    if kind == "python":
        return rewrite_python_refs(text, target)
    return rewrite_jinja_refs(text, target)


def rewrite_refs_in(
    texts: Mapping[str, str], kinds: Mapping[str, str], targets: list[RefTarget]
) -> dict[str, tuple[str, int]]:
    """{path: (new text, refs rewritten)} for each of TEXTS that refers to a target.

    A RefSyntaxError names the file it is about in its `path`.
    """
    out: dict[str, tuple[str, int]] = {}
    for path, text in texts.items():
        if not any(t.seed in text for t in targets):
            continue
        total = 0
        for target in targets:
            try:
                text, n = rewrite_refs(text, target, kinds[path])
            except RefSyntaxError as e:
                e.path = path
                raise
            total += n
        if total:
            out[path] = (text, total)
    return out
