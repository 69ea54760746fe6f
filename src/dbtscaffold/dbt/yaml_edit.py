"""YAML edits that keep every byte they do not mean to change: text in, text out.

ruamel's round-trip loader tells us where each node is; the edits are then spliced into
the original text line by line (as pre-commit's migrate_config does), so comments, key
order, quoting, blank lines and line endings elsewhere in the file stay as they were.
New blocks are rendered by ruamel with the file's own indentation and re-based to the
column where they go.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
_DASH_RE = re.compile(r"^( *)- *$")


class YamlEditError(ValueError):
    """The YAML cannot be parsed (or edited in place); `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class LayoutError(YamlEditError):
    """Valid YAML laid out in a way the line splicer does not handle (callers re-render)."""


@dataclass(frozen=True)
class Indent:
    """ruamel's indentation settings: mapping indent, sequence indent, dash offset."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def _yaml(indent: Indent | None = None) -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt", pure=True)
    y.preserve_quotes = True
    y.width = 4096
    if indent is not None:
        y.indent(mapping=indent.mapping, sequence=indent.sequence, offset=indent.offset)
    return y


def load(text: str) -> Any:
    """Parse TEXT round-trip (comments and positions kept), or raise YamlEditError."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(e.problem or e.context or "invalid YAML").split())
        # ruamel repeats both values of a duplicate key in full: the key is enough.
        problem = re.sub(r'^(found duplicate key ".*?") with value .*$', r"\1", problem)
        raise YamlEditError(problem, line) from None
    except YAMLError as e:
        raise YamlEditError(" ".join(str(e).split()) or "invalid YAML") from None


def dump(node: Any, indent: Indent) -> str:
    buf = io.StringIO()
    _yaml(indent).dump(node, buf)
    return buf.getvalue()


def newline_of(text: str) -> str:
    """The file's line ending: the first one found, else \\n."""
    m = _NEWLINE_RE.search(text)
    return m.group() if m else "\n"


def is_block_map(node: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(node, CommentedMap) and not node.fa.flow_style()


def is_block_seq(node: Any) -> bool:
    from ruamel.yaml.comments import CommentedSeq

    return isinstance(node, CommentedSeq) and not node.fa.flow_style()


class Doc:
    """A YAML file's text, its lines (endings kept) and its round-trip data."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = load(text)
        self.lines: list[str] = []
        pos = 0
        for m in _NEWLINE_RE.finditer(text):
            self.lines.append(text[pos : m.end()])
            pos = m.end()
        if pos < len(text):
            self.lines.append(text[pos:])
        self.nl = newline_of(text)

    # --- line helpers --------------------------------------------------------

    def body(self, i: int) -> str:
        return _NEWLINE_RE.sub("", self.lines[i]) if i < len(self.lines) else ""

    def indent_of(self, i: int) -> int:
        b = self.body(i)
        return len(b) - len(b.lstrip(" "))

    def is_blank(self, i: int) -> bool:
        return not self.body(i).strip()

    def is_comment(self, i: int) -> bool:
        return self.body(i).lstrip().startswith("#")

    def dash_col(self, seq: Any, idx: int) -> int:
        """Column of the `-` of block sequence item IDX (which must share the item's line)."""
        line, col = seq.lc.item(idx)
        m = _DASH_RE.match(self.body(line)[:col])
        if m is None:
            raise LayoutError("a sequence item laid out in a way dbtscaffold cannot edit", line + 1)
        return len(m.group(1))

    def block(self, first: int, col: int, *, key_block: bool = False) -> tuple[int, int]:
        """(last line, end) of the block that starts on line FIRST at column COL.

        The block owns every following line indented deeper than COL (and, for a mapping
        key, a sequence at the key's own column). Comments at or left of COL after its last
        line belong to what follows; END also takes the blank lines up to them.
        """
        last = first
        i = first + 1
        n = len(self.lines)
        while i < n:
            if self.is_blank(i):
                i += 1
                continue
            ind = self.indent_of(i)
            deeper = ind > col or (
                key_block and ind == col and self.body(i).lstrip().startswith("-")
            )
            if self.is_comment(i):
                if ind > col:
                    last = i
                i += 1
                continue
            if not deeper:
                break
            last = i
            i += 1
        end = last + 1
        while end < i and self.is_blank(end):
            end += 1
        return last, end

    def detect_indent(self) -> Indent:
        """The indentation this file uses, read from its first nested mapping and sequence."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        mapping: int | None = None
        seq: tuple[int, int] | None = None
        queue = [self.data]
        while queue and (mapping is None or seq is None):
            node = queue.pop(0)
            if isinstance(node, CommentedMap):
                for key, value in node.items():
                    pos = node.lc.key(key)
                    if pos is None:  # added in memory, not parsed
                        continue
                    kline, kcol = pos
                    if is_block_map(value) and value and mapping is None:
                        vline, vcol = value.lc.key(next(iter(value)))
                        if vline > kline and vcol > kcol:
                            mapping = vcol - kcol
                    elif is_block_seq(value) and value and seq is None:
                        iline, icol = value.lc.item(0)
                        try:
                            dash = self.dash_col(value, 0)
                        except YamlEditError:
                            dash = -1
                        if iline > kline and dash >= kcol:
                            seq = (icol - kcol, dash - kcol)
                    queue.append(value)
            elif isinstance(node, CommentedSeq):
                queue.extend(node)
        m = mapping or 2
        s, o = seq if seq is not None else (m + 2, m)
        return Indent(mapping=m, sequence=max(s, o + 2), offset=o)

    # --- edits (each returns the new text; the Doc itself is not updated) ----
    #
    # Nodes handed to the render methods carry their comments' columns relative to their
    # own position: a sequence item's to its dash, a mapping value's to its key (see
    # `relative_item`), so that a node rendered somewhere else keeps its comments aligned.

    def relative_item(self, seq: Any, idx: int) -> Any:
        """Item IDX of SEQ with its comment columns made relative to its dash."""
        shift_comments(seq[idx], -self.dash_col(seq, idx))
        return seq[idx]

    def _text_with(self, start: int, end: int, block: str) -> str:
        lines = list(self.lines)
        if block and start > 0 and not _NEWLINE_RE.search(lines[start - 1][-1:]):
            lines[start - 1] += self.nl
        lines[start:end] = [block] if block else []
        return "".join(lines)

    def _delete(self, start: int, end: int) -> str:
        if end >= len(self.lines):
            # Removing the tail of the file: drop the blank lines that led up to it too.
            while start > 0 and self.is_blank(start - 1):
                start -= 1
        return self._text_with(start, end, "")

    def delete_seq_item(self, seq: Any, idx: int) -> str:
        """The text without item IDX of block sequence SEQ (and its trailing blank lines)."""
        line, _ = seq.lc.item(idx)
        _, end = self.block(line, self.dash_col(seq, idx))
        return self._delete(line, end)

    def delete_key(self, mapping: Any, key: Any) -> str:
        """The text without KEY (and its value) of block mapping MAPPING."""
        line, col = mapping.lc.key(key)
        _, end = self.block(line, col, key_block=True)
        return self._delete(line, end)

    def replace_seq_item(self, seq: Any, idx: int, node: Any, indent: Indent) -> str:
        """The text with item IDX of block sequence SEQ re-rendered from NODE."""
        line, _ = seq.lc.item(idx)
        dash = self.dash_col(seq, idx)
        last, _ = self.block(line, dash)
        shift_comments(node, indent.offset)
        return self._text_with(line, last + 1, render_seq_item(node, dash, indent, self.nl))

    def append_seq_item(self, seq: Any, node: Any, indent: Indent) -> str:
        """The text with NODE added after the last item of non-empty block sequence SEQ."""
        n = len(seq)
        line, _ = seq.lc.item(n - 1)
        dash = self.dash_col(seq, n - 1)
        last, _ = self.block(line, dash)
        gap = ""
        if n >= 2:
            pline, _ = seq.lc.item(n - 2)
            plast, _ = self.block(pline, self.dash_col(seq, n - 2))
            if any(self.is_blank(i) for i in range(plast + 1, line)):
                gap = self.nl
        shift_comments(node, indent.offset)
        block = gap + render_seq_item(node, dash, indent, self.nl)
        return self._text_with(last + 1, last + 1, block)

    def replace_key(self, mapping: Any, key: Any, value: Any, indent: Indent) -> str:
        """The text with KEY of block mapping MAPPING re-rendered with VALUE."""
        line, col = mapping.lc.key(key)
        last, _ = self.block(line, col, key_block=True)
        return self._text_with(line, last + 1, render_map_entry(key, value, col, indent, self.nl))

    def append_top_level(self, key: str, value: Any, indent: Indent) -> str:
        """The text with `KEY: VALUE` added at the end of the top-level mapping."""
        body = self.text
        if body.strip() and not body.endswith(("\n", "\r")):
            body += self.nl
        sep = self.nl if body.strip() and not body.endswith(self.nl * 2) else ""
        if not body.strip():
            body, sep = "", ""
        return body + sep + render_map_entry(key, value, 0, indent, self.nl)


def trim_trailing_comments(node: Any) -> None:
    """Drop the blank lines and comments ruamel hung after NODE's last leaf.

    In the file NODE came from they separated it from what followed; NODE is about to be
    moved or re-rendered, so only its own end-of-line comment stays.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    while isinstance(node, (CommentedMap, CommentedSeq)):
        node.ca.end = []
        if not len(node):
            return
        last = list(node.keys())[-1] if isinstance(node, CommentedMap) else len(node) - 1
        slot = 2 if isinstance(node, CommentedMap) else 0
        entry = node.ca.items.get(last)
        if entry and entry[slot] is not None:
            value = entry[slot].value
            first, sep, _rest = value.partition("\n")
            if first.strip():
                entry[slot].value = first + sep
            else:
                entry[slot] = None
        node = node[last]


def _comment_tokens(node: Any) -> Iterator[Any]:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.tokens import CommentToken

    def walk(value: Any) -> Iterator[Any]:
        if isinstance(value, CommentToken):
            yield value
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)

    stack = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, (CommentedMap, CommentedSeq)):
            continue
        yield from walk(n.ca.comment)
        yield from walk(list(n.ca.items.values()))
        yield from walk(n.ca.end)
        stack.extend(n.values() if isinstance(n, CommentedMap) else n)


def shift_comments(node: Any, delta: int) -> None:
    """Move the comments in NODE's subtree DELTA columns (they keep absolute columns)."""
    import copy

    if not delta:
        return
    seen: set[int] = set()
    for tok in _comment_tokens(node):
        if id(tok) in seen or tok.start_mark is None:
            continue
        seen.add(id(tok))
        mark = copy.copy(tok.start_mark)
        mark.column = max(0, mark.column + delta)
        tok.start_mark = mark


def rebase(block: str, from_col: int, to_col: int, nl: str) -> str:
    """Shift every line of BLOCK (rendered at FROM_COL) to TO_COL, with line ending NL."""
    out = []
    for line in block.split("\n"):
        if not line.strip():
            out.append("")
        elif to_col >= from_col:
            out.append(" " * (to_col - from_col) + line)
        else:
            cut = min(from_col - to_col, len(line) - len(line.lstrip(" ")))
            out.append(line[cut:])
    # ruamel attaches the blank lines and comments that followed a node in its old file
    # to that node; they belong to whatever came next there, so they do not move with it.
    while out and (not out[-1] or out[-1].lstrip().startswith("#")):
        out.pop()
    return nl.join(out) + nl


def render_seq_item(node: Any, dash_col: int, indent: Indent, nl: str) -> str:
    """NODE as one block sequence item (`- ...`) with its dash at DASH_COL."""
    return rebase(dump([node], indent), indent.offset, dash_col, nl)


def render_map_entry(key: Any, value: Any, key_col: int, indent: Indent, nl: str) -> str:
    """`KEY: VALUE` as a block mapping entry starting at KEY_COL."""
    from ruamel.yaml.comments import CommentedMap

    return rebase(dump(CommentedMap([(key, value)]), indent), 0, key_col, nl)
