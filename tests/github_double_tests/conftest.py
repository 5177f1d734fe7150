"""Fixtures shared by the double's tests: an App key per module, and a double with two repositories
of one account with the requesting module's APP_ID installed on both. A module may define its own."""
from __future__ import annotations

import pytest

from tests.github_double import GitHubDouble, new_app_key_pem

TWO_REPO_FILES = {"README.md": "# infra\n", "main.tf": 'resource "aws_s3_bucket" "b" {}\n'}


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(private_key, request):
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=TWO_REPO_FILES)
        double.create_repo("octo/other", files=TWO_REPO_FILES)
        double.installation = double.install_app(request.module.APP_ID, private_key, repos=["octo/infra", "octo/other"])
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)
