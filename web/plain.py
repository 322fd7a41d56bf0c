"""Markdown as the plain text a person reads, for the short citation snippets on a draft page.

    markdown_to_text("## Returns\\n\\n- **30 days**, see [our policy](/help/returns)")
    # "Returns 30 days, see our policy"

Pure and forgiving: a snippet is cut from a help article at any word, so markup left
open by the cut (a `**` without its pair) is dropped too. The result is text, not HTML:
the template escapes it like any other.
"""

from __future__ import annotations

import html
import re

# A backslash-escaped character is kept as itself: held aside (in the private use area)
# while the markup around it is taken away.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_HELD = re.compile("[\ue000-\ue07f]")

_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.M)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s>]+)>")
_TAG = re.compile(r"<!--.*?(?:-->|$)|</?[A-Za-z][^<>]*>", re.S)
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]\n]*)\](?:\([^)\n]*\)|\[[^\]\n]*\])")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]+\S.*$", re.M)
# "## Title ##" -> "Title"; "order #12" is no heading.
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", re.M)
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+", re.M)
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.M)
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+(?:\[[ xX]\][ \t]+)?", re.M)
_TABLE_CELL_RULE = r"[ \t]*:?-{3,}:?[ \t]*"
_TABLE_RULE = re.compile(rf"^[ \t]*\|?{_TABLE_CELL_RULE}(?:\|{_TABLE_CELL_RULE})*\|?[ \t]*$", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*?)\|?[ \t]*$", re.M)
_EMPHASIS = [
    re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.S),
    re.compile(r"\*(?=\S)(.+?)(?<=\S)\*", re.S),
    # Not inside words: snake_case stays as it is.
    re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)", re.S),
]
_LEFT_OPEN = re.compile(r"\*\*+|__+|~~+")
_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_SPACE = re.compile(r"\s+")


def markdown_to_text(snippet: str) -> str:
    """SNIPPET without its Markdown or HTML markup, on one line of single spaces."""
    text = _ESCAPED.sub(lambda m: chr(0xE000 + ord(m[1])), snippet)
    text = _FENCE.sub("", text)
    # Code first: what is inside backticks is shown as written, asterisks and all.
    text = _CODE.sub(lambda m: _hold(m[2].strip()), text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _REFERENCE.sub("", text)
    text = _IMAGE_OR_LINK.sub(r"\1", text)
    text = _RULE.sub("", text)
    text = _HEADING.sub(lambda m: m[1] or "", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _TABLE_ROW.sub(lambda m: " · ".join(cell.strip() for cell in m[1].split("|")), text)
    for emphasis in _EMPHASIS:
        text = emphasis.sub(lambda m: m[m.lastindex], text)
    text = _LEFT_OPEN.sub("", text)
    text = _HELD.sub(lambda m: chr(ord(m[0]) - 0xE000), text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


def _hold(code: str) -> str:
    """CODE with its markup characters held aside, so nothing later takes them away."""
    return re.sub(r"[!-/:-@\[-`{-~]", lambda m: chr(0xE000 + ord(m[0])), code)
