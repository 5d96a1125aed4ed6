"""A small, safe Markdown to HTML conversion for the Markdown pipeward writes (model cards):
headings, paragraphs, pipe tables, bullet lists, inline code, bold and italics.

Safe because every character of the input is escaped before any markup is added: raw HTML in
the text, a ``<script>`` in a record's payload, stays text. Links and images are not
converted (the report fetches nothing), so a URL is shown, never followed.
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["markdown_to_html"]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def _inline(text: str) -> str:
    """Escape, then mark up code spans (whose content is left alone), bold and italics."""
    pieces = _CODE.split(text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(f"<code>{escape(piece)}</code>")
        else:
            safe = escape(piece)
            safe = _BOLD.sub(r"<strong>\1</strong>", safe)
            out.append(_ITALIC.sub(r"<em>\1</em>", safe))
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def markdown_to_html(text: str, *, heading_offset: int = 0) -> str:
    """HTML for ``text``; ``heading_offset`` demotes headings (``#`` becomes ``h{1+offset}``)
    so a document can sit inside a page's own outline."""
    if not isinstance(text, str):
        raise TypeError(f"markdown_to_html expects str, got {type(text).__name__}")
    lines = text.splitlines()
    out: list[str] = []
    paragraph: list[str] = []
    i = 0

    def flush() -> None:
        if paragraph:
            out.append("<p>" + " ".join(_inline(p) for p in paragraph) + "</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        heading = _HEADING.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = min(len(heading.group(1)) + heading_offset, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and _RULE.match(lines[i + 1]):
            flush()
            head = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            th = "".join(f"<th>{_inline(c)}</th>" for c in head)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                           for r in rows)
            out.append(f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>")
            continue
        elif _BULLET.match(line):
            flush()
            items = []
            while i < len(lines) and _BULLET.match(lines[i]):
                items.append(f"<li>{_inline(_BULLET.match(lines[i]).group(1))}</li>")  # type: ignore[union-attr]
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    return "\n".join(out)
