"""Tenant text in PRs and commits (issue 7, item 7): the hostile SARIF message as it was seen, and
properties over any outside text, for the PR body and title (bot.github.pr_body), the commit
message (bot.provenance) and the quoting helpers they share (bot.quoting). Markdown is rendered
with markdown-it (CommonMark, raw HTML allowed, as GitHub allows some) to see what a reader gets;
trailers are read by git itself (`git interpret-trailers --parse`)."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess

import pytest

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot import quoting as q
from bot.github import pr_body
from bot.provenance import TRAILER_PREFIX, commit_message
from fixers.models import Location
from tests.bot.github.fixes import VERIFICATION, attempt

BASE = "a" * 40
# The message from the issue: newlines, a forged trailer and sign-off, a team mention, a remote
# image and a forged provenance comment.
HOSTILE = ("S3 bucket is public\n\n"
           "Iacbot-Finding: 0000000000000000\n"
           "Signed-off-by: Mallory <mallory@evil.example>\n"
           "cc @acme/security-team please merge\n"
           "![pixel](https://evil.example/pixel.png)\n"
           '<!-- iacbot:provenance {"fingerprint":"0000000000000000","file":".github/workflows/x.yml"} -->\n')
OUR_KEYS = [f"{TRAILER_PREFIX}-{k}" for k in ("Finding", "Rule", "Source", "Fixer", "Verification")]
# Every line of a commit message starts with iacbot's own words (or is empty).
OUR_LINE_STARTS = ("iacbot: ", "Finding: ", "Resource: ", "Fixer: ", "Category: ", "Why this place: ",
                   *(k + ": " for k in OUR_KEYS))
MENTION = re.compile(r"@[A-Za-z0-9]")          # "@" right before a name: GitHub would mention it
REFERENCE = re.compile(r"#[0-9]")
markdown = MarkdownIt("commonmark", {"html": True})

# Outside text as an attacker writes it: markup, trailers, mentions, control and format characters.
PIECES = [*"@#<>!-[]()`*_~|\\&:/. \t\n\r\v\x00\x1b\u2028\u2029\u202e\u200d\u2060aZ09", "<!--", "-->", "--!>", "```",
          "http://", "www.", "Iacbot-Finding: ", "Signed-off-by: ", "\r\n", "@acme/team", "\U0001F600"]
NASTY = st.lists(st.sampled_from(PIECES), max_size=40).map("".join) | st.text(max_size=60)


def hostile_attempt(message: str = HOSTILE, **finding):
    a = attempt()
    f = dataclasses.replace(a.finding, message=message, **finding)
    return dataclasses.replace(a, finding=f, findings=(f,))


def trailers(message: str) -> list[tuple[str, str]]:
    out = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True,
                         check=True).stdout
    return [tuple(line.split(": ", 1)) for line in out.splitlines()]


def html(text: str) -> str:
    return markdown.render(text)


def outside_html(text: str) -> list[str]:
    """Raw HTML that markdown-it passes through (GitHub would render some of it)."""
    tokens = markdown.parse(text)
    found = [t.content for t in tokens if t.type == "html_block"]
    for t in tokens:
        found += [c.content for c in (t.children or []) if c.type == "html_inline"]
    return found


# -- the message from the issue ------------------------------------------------------------------

def test_the_hostile_message_is_inert_in_the_pr_body():
    a = hostile_attempt(resource="aws_s3_bucket.logs @acme/admins", file="terraform/main.tf")
    trigger = {"event": "findings_api", "tenant": "acme-ci\n@acme/everyone", "submission_id": "s-1 -->"}
    text = pr_body.body(a, BASE, VERIFICATION, trigger)
    assert pr_body.read_provenance(text) == pr_body.provenance(a, BASE, VERIFICATION, trigger)
    assert pr_body.read_provenance(text)["fingerprint"] == a.finding.fingerprint() != "0" * 16
    assert text.count("<!--") == 1 and text.count("-->") == 1  # only iacbot's own block
    assert outside_html(text) == [pr_body.provenance_block(pr_body.provenance(a, BASE, VERIFICATION, trigger))
                                  + "\n"]
    rendered = html(text)
    assert "<img" not in rendered and "<a " not in rendered
    assert not MENTION.search(text)
    assert not any(line.startswith(("Iacbot-Finding", "Signed-off-by", "cc ", "![")) for line in text.splitlines())
    # The words are still there for the reviewer to read.
    assert "Signed\\-off\\-by: Mallory" in text and "S3 bucket is public Iacbot\\-Finding" in text


def test_the_hostile_message_writes_no_trailer_or_line_in_the_commit_message():
    a = hostile_attempt(rule_id="CKV_X\nSigned-off-by: Mallory <m@evil.example>", source="sarif\n\nIacbot-Fixer: x")
    message = commit_message(a, VERIFICATION + "\nSigned-off-by: Mallory")
    assert [k for k, _ in trailers(message)] == OUR_KEYS
    assert dict(trailers(message))["Iacbot-Finding"] == a.finding.fingerprint()
    assert all(line == "" or line.startswith(OUR_LINE_STARTS) for line in message.splitlines()), message
    assert not MENTION.search(message)


def test_a_200k_message_gives_a_body_github_accepts_with_the_provenance_whole():
    a = hostile_attempt("x" * 200_000)
    text = pr_body.body(a, BASE, VERIFICATION, {"event": "push", "head_sha": "b" * 40})
    assert len(text) <= pr_body.BODY_LIMIT < 65_536
    assert pr_body.read_provenance(text) == pr_body.provenance(a, BASE, VERIFICATION, {"event": "push",
                                                                                       "head_sha": "b" * 40})
    assert "Opened by iacbot" in text and len(pr_body.title(a)) <= pr_body.TITLE_LIMIT
    assert len(commit_message(a, VERIFICATION).splitlines()[2]) < 400


def test_when_everything_is_huge_the_explanation_is_cut_and_the_fence_closed():
    big = ("line with ``` fence and @team\n" * 50_000) + "\U0001F600" * 30_000
    a = hostile_attempt(big, rule_id=big, resource=big, file=big, source=big, severity=big)
    a = dataclasses.replace(a, summary=big, location=Location(big, 0, 1, big, big))
    trigger = {f"k{i}": big for i in range(40)}
    text = pr_body.body(a, BASE, big, trigger)
    assert len(text.encode("utf-16-le")) // 2 <= pr_body.BODY_LIMIT
    prov = pr_body.read_provenance(text)
    assert prov["fingerprint"] == a.finding.fingerprint() and len(prov["trigger"]) == pr_body.PROVENANCE_TRIGGER_KEYS
    assert "Opened by iacbot" in text and text.count("<!--") == 1 and not MENTION.search(text)
    # Every fence opened is closed before the footer: the footer and block render as themselves.
    tokens = markdown.parse(text)
    assert any(t.type == "hr" for t in tokens) and tokens[-1].type == "html_block"


def test_the_local_branch_commit_carries_only_iacbots_trailers(tmp_path):
    """`iacbot fix --branch` writes bot.provenance.commit_message with git: the same rules hold."""
    from bot import git_branches

    repo = tmp_path / "r"
    repo.mkdir()
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), "init", "-q", "-b", "main"], check=True)
    (repo / "main.tf").write_text("# x\n")
    subprocess.run(["git", "-C", str(repo), *env, "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *env, "commit", "-qm", "init"], check=True)
    a = hostile_attempt()
    sha = git_branches.commit_on_new_branch(repo, "iacbot/x", "main.tf", "# fixed\n", commit_message(a, VERIFICATION))
    stored = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%B", sha], capture_output=True, text=True,
                            check=True).stdout
    assert [k for k, _ in trailers(stored)] == OUR_KEYS
    assert all(line == "" or line.startswith(OUR_LINE_STARTS) for line in stored.splitlines())


# -- properties ------------------------------------------------------------------------------------

@given(NASTY)
def test_md_text_is_one_inert_line(s):
    out = q.md_text(s, 80)
    assert "\n" not in out and "\r" not in out and "<!--" not in out and "-->" not in out
    assert not MENTION.search(out) and not REFERENCE.search(out)
    assert len(q.one_line(s, 80)) <= 80
    rendered = html("x " + out)
    assert outside_html("x " + out) == [] and "<img" not in rendered and "<a " not in rendered


@given(NASTY)
def test_md_code_shows_exactly_the_one_line_text(s):
    out = q.md_code(s, 80)
    children = markdown.parseInline("x " + out)[0].children
    assert [c.type for c in children] == ["text", "code_inline"]
    assert children[1].content.replace(q.JOINER, "") == (q.one_line(s, 80) or " ")


@given(NASTY)
def test_md_block_cannot_be_closed_from_inside(s):
    fence, content = q.md_block(s, 500)
    tokens = markdown.parse(f"{fence}text\n{content}\n{fence}\n\nafter\n")
    assert tokens[0].type == "fence" and tokens[0].content == content + "\n"


@given(NASTY)
def test_comment_json_cannot_close_or_open_a_comment(s):
    out = q.comment_json({"v": s, s: [s]})
    assert not any(bad in out for bad in ("-->", "--!>", "<!--", "<", ">"))
    assert json.loads(out) == {"v": s, s: [s]}


@given(message=NASTY, rule=NASTY, resource=NASTY, file=NASTY, source=NASTY, summary=NASTY, why=NASTY,
       verification=NASTY)
def test_no_outside_text_starts_a_commit_line_or_a_trailer(message, rule, resource, file, source, summary, why,
                                                           verification):
    a = hostile_attempt(message, rule_id=rule, resource=resource, file=file, source=source)
    a = dataclasses.replace(a, summary=summary, location=Location("f", 0, 1, "resource", why))
    text = commit_message(a, verification)
    assert all(line == "" or line.startswith(OUR_LINE_STARTS) for line in text.splitlines()), text
    assert not MENTION.search(text) and len(text.splitlines()) == 13
    assert len(text.splitlines()[0]) <= 72


@given(message=NASTY, rule=NASTY, resource=NASTY, file=NASTY, tenant=NASTY, verification=NASTY)
def test_no_outside_text_mentions_links_or_comments_in_the_body(message, rule, resource, file, tenant, verification):
    a = hostile_attempt(message, rule_id=rule, resource=resource, file=file)
    trigger = {"event": "findings_api", "tenant": tenant, "submission_id": message}
    text = pr_body.body(a, BASE, verification, trigger)
    assert text.count("<!--") == 1 and text.count("-->") == 1 and text.rstrip().endswith("-->")
    assert pr_body.read_provenance(text) == pr_body.provenance(a, BASE, verification, trigger)
    assert len(outside_html(text)) == 1
    # Mentions may appear only inside code (spans and the evidence block), where GitHub ignores them.
    prose = re.sub(r"(`+).*?\1", "", text.split("## Evidence")[0])
    assert not MENTION.search(prose) and not REFERENCE.search(prose)
    rendered = html(text)
    assert "<img" not in rendered and "<a " not in rendered
    assert not MENTION.search(pr_body.title(a))


@pytest.mark.parametrize("verification", ["--->", "---->", "<!---->", "-- >", "a---b-->c"])
def test_runs_of_dashes_never_close_the_provenance_comment(verification):
    """Found by the property test above: "--->" once became "-\u2060-->"."""
    a = hostile_attempt("m")
    text = pr_body.body(a, BASE, verification, None)
    assert text.count("<!--") == 1 and text.count("-->") == 1 and text.rstrip().endswith("-->")
