"""Quoting outside text (from a scanner, a tenant, a repository) for what iacbot writes: PR
titles and bodies (GitHub markdown) and commit messages. Pure functions.

Outside text is data, never markup: it is put on one line, capped, and escaped so that it cannot
start a trailer line in a commit message, mention a user or team, reference an issue, show an
image, make a link, open HTML or an HTML comment, or close one of iacbot's own. The helpers say
where the text goes; iacbot's own fixed wording needs none of them.
"""
from __future__ import annotations

import json
import re
import unicodedata

#: U+2060 WORD JOINER: invisible, and it breaks GitHub's @mention, #reference and autolink
#: patterns, which need a name character (or "//") right after the "@", "#" or ":".
JOINER = "\u2060"
ELLIPSIS = "…"

# Line and paragraph separators of every kind, and other control or format characters
# (bidi overrides, zero-width characters): none belongs in a one-line value.
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_SPACES = re.compile(r"\s+")
# ASCII punctuation that markdown gives a meaning to; CommonMark's backslash escape makes it literal.
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Patterns GitHub turns into notifications or links even after markdown escapes are read.
_NOTIFY = re.compile(r"([@#])(?=[^\s\u2060])")            # @user, @org/team, #123, GH-123's "#"
_SCHEME = re.compile(r"(?i)(?<=:)(?=//)")          # https://x, ftp://x
_WWW = re.compile(r"(?i)\b(www)(?=\.)")            # www.example.com


def _visible(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")


def one_line(text: object, limit: int) -> str:
    """``text`` on one line: every line break and run of spaces becomes one space, control and
    format characters go, and at most ``limit`` characters remain (an ellipsis marks a cut)."""
    s = _BREAKS.sub(" ", str(text if text is not None else ""))
    s = "".join(ch if _visible(ch) else " " for ch in s)
    s = _SPACES.sub(" ", s).strip()
    return cap(s, limit)


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters; a cut ends in an ellipsis."""
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _defuse(text: str) -> str:
    """Break mentions, references and autolinks with the invisible word joiner."""
    text = _NOTIFY.sub(lambda m: m.group(1) + JOINER, text)
    text = _SCHEME.sub(JOINER, text)
    return _WWW.sub(lambda m: m.group(1) + JOINER, text)


def _uncomment(text: str) -> str:
    """Code shows "<!--" and "-->" as written; a joiner inside keeps even a raw-text reader (a
    regex over the body) from seeing a comment open or close there."""
    # Every "-" before another gets a joiner: a plain replace of "--" leaves "--->" as "-J-->".
    return re.sub(r"-(?=-)", "-" + JOINER, text.replace("<!", "<" + JOINER + "!"))


def md_text(text: object, limit: int) -> str:
    """Outside text as literal GitHub markdown inline text: one line, HTML characters as
    entities (so no tag, comment or image), markdown punctuation backslash-escaped (so no
    link, emphasis or heading), mentions, references and autolinks broken."""
    s = one_line(text, limit)
    s = "".join(_HTML.get(ch, ch) for ch in s)
    s = _MD_PUNCT.sub(r"\\\1", s)
    return _defuse(s)


def md_code(text: object, limit: int) -> str:
    """Outside text as an inline code span (nothing inside one is markup): delimited by a
    backtick run longer than any inside, per CommonMark; mentions and comment marks broken all
    the same, so that no raw-text reader of the body finds one either."""
    s = _defuse(_uncomment(one_line(text, limit)))
    if not s:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""  # one_line left no space at either end
    return f"{fence}{pad}{s}{pad}{fence}"


def md_block(text: object, limit: int, max_lines: int = 200) -> tuple[str, str]:
    """(fence, content) for a fenced code block that shows outside text as it is, line for line:
    the fence is a backtick run longer than any in the text, so no line can close it; at most
    ``max_lines`` lines and ``limit`` characters, control characters removed."""
    lines = []
    for raw in _BREAKS.split(str(text if text is not None else "").replace("\r\n", "\n")):
        lines.append("".join(ch if _visible(ch) or ch == "\t" else " " for ch in raw).rstrip())
        if len(lines) >= max_lines:
            lines.append(ELLIPSIS)
            break
    body = _defuse(_uncomment(cap("\n".join(lines).strip("\n"), limit)))
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1), body


def plain(text: object, limit: int) -> str:
    """Outside text in a PR title: one line, capped, mentions and references broken (a title
    shows text as written, so markdown escapes would show)."""
    return _defuse(one_line(text, limit))


def commit_text(text: object, limit: int) -> str:
    """Outside text inside one line of a commit message, after iacbot's own words: one line,
    capped, so it can never begin a line (a trailer, a Signed-off-by) or a paragraph; mentions
    broken, since GitHub links them in commit messages too."""
    return _defuse(one_line(text, limit))


def comment_json(data: object) -> str:
    """JSON for inside an HTML comment: '<', '>' and '&' are written as \\u escapes, so no value
    can close the comment ("-->", "--!>") or open another, and '@' too, so not even raw text shows
    a mention; JSON readers get the values back."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("@", "\\u0040")
    # Line breaks are escaped by json; the Unicode separators are not, and some readers split on them.
    return raw.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
