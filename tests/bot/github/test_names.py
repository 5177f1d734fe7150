"""GitHub's owner and repository name rules (bot.github.names), as GitHub applies them."""
import re

import pytest

from bot.github.names import REPOSITORY, is_repository, is_repository_pattern


@pytest.mark.parametrize("name", [
    "acme/infra", "acme-labs/k8s", "a/b", "A1/.github", "acme/.x", "acme/..x", "acme/x..", "acme/a_b-c.d",
    "a" * 39 + "/r", "acme/" + "r" * 100, "0/0",
])
def test_valid(name):
    assert is_repository(name) and is_repository_pattern(name)


@pytest.mark.parametrize("name", [
    "acme-labs/..", "acme-labs/.", "acme", "acme/", "/infra", "acme/infra/x", "-acme/x", "acme-/x", "ac--me/x",
    "ac_me/x", "a" * 40 + "/r", "acme/" + "r" * 101, "acme/in fra", "acme/infra\n", "acme/*", "acme/inf%2e",
    "ácme/x", "acme/ínfra",
])
def test_invalid(name):
    assert not is_repository(name)


def test_patterns_allow_owner_wildcard_only():
    assert is_repository_pattern("acme-labs/*")
    assert not is_repository_pattern("*/infra") and not is_repository_pattern("acme/in*")
    assert not is_repository_pattern("acme-labs/..")


def test_openapi_pattern_is_the_same_rule():
    """The description carries REPOSITORY.pattern; as a plain search (what a client's validator
    does with ECMA-262 ``$``) it judges the same names."""
    for name in ("acme/infra", "acme-labs/..", "a" * 40 + "/r", "acme/.x"):
        assert bool(re.search(REPOSITORY.pattern, name)) == is_repository(name)
