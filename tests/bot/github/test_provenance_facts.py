"""The policy facts a PR's provenance block carries (what `iacbot policy explain --pr-body` reads),
measured where the PR is made, against the GitHub double."""
from __future__ import annotations

import dataclasses

import pytest
from github import Auth, Github

from bot.github import pr_body
from bot.github.ownership import MemoryLedger, Ownership, app_identity
from bot.github.publish import CREATED, publish_fix
from policies.facts import fix_facts
from tests.bot.github.fixes import FILES, FIXED_TF, MAIN_TF, VERIFICATION, attempt
from tests.github_double import GitHubDouble, new_app_key_pem

APP_ID = 626262
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(private_key):
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=FILES)
        double.installation = double.install_app(APP_ID, private_key, repos=["octo/infra"])
        double.ownership = Ownership(app_identity(APP_ID, private_key, double.base_url), MemoryLedger())
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def client(gh, private_key) -> Github:
    from bot.github.auth import installation_token
    token = installation_token(APP_ID, private_key, gh.installation.id, "infra", None, gh.base_url)
    return Github(base_url=gh.base_url, auth=Auth.Token(token.value), **FAST)


def test_a_published_pr_carries_the_facts_measured_against_the_default_branch(gh, private_key):
    github = client(gh, private_key)
    result = publish_fix(github, "octo/infra", attempt(), FIXED_TF, VERIFICATION, ownership=gh.ownership)
    assert result.status == CREATED
    block = pr_body.read_provenance(github.get_repo("octo/infra").get_pull(result.pr_number).body)
    assert {k: block[k] for k in pr_body.FACT_KEYS} == {
        "repository": "octo/infra", "category": "encryption", "risk": "low", "confidence": "safe-default",
        "impact": [], "severity": None, "paths": ["terraform/main.tf"], "changed_lines": 1, "resources": 1}
    assert block["fingerprint"] == attempt().finding.fingerprint()   # the older keys are unchanged


def test_facts_given_to_publish_are_the_ones_written(gh, private_key):
    decided = dataclasses.replace(fix_facts(attempt(), "octo/infra", "terraform/main.tf", MAIN_TF, FIXED_TF),
                                  changed_lines=7)
    github = client(gh, private_key)
    result = publish_fix(github, "octo/infra", attempt(), FIXED_TF, VERIFICATION, ownership=gh.ownership, fix=decided)
    block = pr_body.read_provenance(github.get_repo("octo/infra").get_pull(result.pr_number).body)
    assert block["changed_lines"] == 7


def test_without_facts_the_block_has_the_labels_and_no_size():
    """A body made without FixFacts (no measurement) says nothing of the size, rather than 0."""
    block = pr_body.read_provenance(pr_body.body(attempt(), "a" * 40, VERIFICATION))
    assert block["category"] == "encryption" and block["paths"] == ["terraform/main.tf"]
    assert "changed_lines" not in block and "repository" not in block


def test_a_provenance_block_nested_too_deeply_reads_as_none():
    """Anyone who can edit the PR body can write one; json.loads stops it with RecursionError."""
    deep = "<!-- iacbot:provenance {\"a\": " + "[" * 100_000 + "]" * 100_000 + "} -->"
    assert pr_body.read_provenance(deep) is None
