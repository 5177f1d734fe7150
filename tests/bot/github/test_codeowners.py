"""CODEOWNERS parsing and matching (pure), checked against the examples in GitHub's documentation."""
from __future__ import annotations

import pytest

from bot.github.codeowners import LOCATIONS, Reviewers, owners_for, parse, pattern_regex, reviewers_for

# GitHub's documented example file ("About code owners"), trimmed to the lines with a stated meaning.
DOCS_EXAMPLE = """\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/* docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
/apps/github/special @hubot
"""


def test_locations_are_githubs_in_order():
    assert LOCATIONS == (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@pytest.mark.parametrize("path, owners", [
    ("README.md", ("@global-owner1", "@global-owner2")),             # only the catch-all matches
    ("src/app.js", ("@js-owner",)),                                   # inline comment dropped
    ("main.go", ("docs@example.com",)),
    ("notes/a.txt", ("@octo-org/octocats",)),
    ("build/logs/today.log", ("@octocat",)),                          # **/logs is the later match
    ("docs/getting-started.md", ("@doctocat",)),                      # /docs/ is the later match
    ("deploy/apps/x.yaml", ("@octocat",)),                            # apps/ at any depth
    ("scripts/run.sh", ("@doctocat", "@octocat")),
    ("var/logs/a/b.log", ("@octocat",)),                              # **/logs
    ("apps/web/index.html", ("@octocat",)),
    ("apps/github/readme.md", ()),                                    # a matching line with no owners
    ("apps/github/special/x", ("@hubot",)),
])
def test_documented_example_last_match_wins(path, owners):
    assert owners_for(parse(DOCS_EXAMPLE), path) == owners


@pytest.mark.parametrize("pattern, matching, not_matching", [
    ("docs/*", ["docs/a.md"], ["docs/build-app/troubleshooting.md", "x/docs/a.md"]),  # GitHub's own example
    ("*.tf", ["main.tf", "a/b/c.tf"], ["main.tfvars", "a.tf.bak"]),
    ("terraform/", ["terraform/main.tf", "x/terraform/y/z.tf"], ["terraform", "terraformx/a"]),
    ("/terraform", ["terraform", "terraform/main.tf"], ["x/terraform/main.tf"]),
    ("a/**/b.tf", ["a/b.tf", "a/x/y/b.tf"], ["c/a/b.tf"]),
    ("/build/logs/", ["build/logs/a", "build/logs/b/c"], ["x/build/logs/a", "build/logs"]),
    ("/docs/**", ["docs/a", "docs/x/y"], ["docs", "ydocs/a"]),
    ("k8s/?.yaml", ["k8s/a.yaml"], ["k8s/ab.yaml", "k8s/a/b.yaml"]),
    ("file.name+1", ["file.name+1", "d/file.name+1"], ["fileXname+1"]),  # regex characters are literal
])
def test_patterns(pattern, matching, not_matching):
    regex = pattern_regex(pattern)
    assert [p for p in matching if regex.match(p)] == matching
    assert [p for p in not_matching if regex.match(p)] == []


def test_escaped_hash_and_comments():
    rules = parse("# comment\n\n\\#notes.md @alice\n  *.tf   @bob   # trailing\n")
    assert [(r.pattern, r.owners, r.line) for r in rules] == [("#notes.md", ("@alice",), 3), ("*.tf", ("@bob",), 4)]
    assert owners_for(rules, "#notes.md") == ("@alice",)


def test_reviewers_split_users_and_teams_and_drop_what_cannot_be_requested():
    text = "* @Alice @octo/sec @other-org/team alice@example.com @ALICE @iacbot[bot] @octo/Sec @bob\n"
    got = reviewers_for(text, "main.tf", org="Octo", exclude=["iacbot[bot]", "@bob"])
    assert got == Reviewers(("Alice",), ("sec",))
    assert not reviewers_for("*.py @alice\n", "main.tf", org="octo")
    assert not reviewers_for("", "main.tf", org="octo")
    assert reviewers_for("*.tf @alice\n/terraform/ @octo/platform\n", "terraform/main.tf", org="octo") == \
        Reviewers((), ("platform",))
