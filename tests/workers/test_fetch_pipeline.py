"""Issue 7 items 4 and 5 end to end, on REAL workers (a scan worker from .venv-scanner, a main
worker) and the GitHub double, through the signed push webhook:

* files with names git allows but iacbot must not use (``../x.tf``, ``dir/evil\\name.yaml``, a
  Terraform sibling ``infra/evil\\name.tf``) sit among good files: the good ones become PRs, the
  bad ones are named, and a later push to the same directory still works;
* a push listing more files than one job reads is split: its second part runs as job
  ``<delivery>:part2`` and becomes its own PR."""
from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from bot.service.app import create_app
from bot.service.settings import CommonSettings, Settings
from tests.celery_worker import SCANNER_VENV, celery_worker, wait_for
from tests.github_double import GitHubDouble
from tests.github_double.webhooks import push_delivery
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
from workers.celery_app import FETCH_TASK, REMEDIATE_QUEUE, make_celery
from workers.job_parts import MAX_JOB_FILES
from workers.store import FETCHED_PREFIX, FIXES_PREFIX, PUBLISHED_PREFIX, REMEDIATED_PREFIX

APP_ID = 494949
SECRET = "webhook-secret-for-tests-only"
VOLUME = 'resource "aws_ebs_volume" "{name}" {{\n  availability_zone = "eu-west-1a"\n  size              = 10\n}}\n'
NAMES_REPO, SPLIT_REPO = "octo/bad-names", "octo/split"
BAD = ["../x.tf", "dir/evil\\name.yaml"]


@pytest.fixture(scope="module")
def gh(private_key):
    with GitHubDouble() as double:
        for name in (NAMES_REPO, SPLIT_REPO):
            double.create_repo(name, files={"README.md": "# repo\n"})
        double.installation = double.install_app(APP_ID, private_key.read_text(), repos=[NAMES_REPO, SPLIT_REPO])
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture(scope="module")
def workers(gh, private_key, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    plain = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    main_env = {**plain, "IACBOT_REDIS_URL": TEST_REDIS_URL, "IACBOT_GITHUB_API_URL": gh.base_url,
                "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
                "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "IACBOT_MAX_OPEN_PRS_PER_REPO": "0"}
    with celery_worker("scan", {**plain, "IACBOT_REDIS_URL": TEST_REDIS_URL}, logs / "scan.log", "scan-names",
                       venv=SCANNER_VENV) as scan, \
            celery_worker("remediate,publish", main_env, logs / "main.log", "chain-names") as main:
        yield scan, main, logs / "main.log"


def published(redis_db, job_id: str) -> dict[str, dict] | None:  # noqa: F811
    """The fixes of the job ({fingerprint: fix + publish outcome}) once every one is published."""
    fixes = {k.decode(): json.loads(v) for k, v in redis_db.hgetall(FIXES_PREFIX + job_id).items()}
    done = {k.decode(): json.loads(v) for k, v in redis_db.hgetall(PUBLISHED_PREFIX + job_id).items()}
    if not redis_db.exists(REMEDIATED_PREFIX + job_id) or len(done) < len(fixes):
        return None
    return {fp: {**fix, "outcome": done[fp]} for fp, fix in fixes.items()}


def problems(redis_db, job_id: str) -> list[str]:  # noqa: F811
    return json.loads(redis_db.get(REMEDIATED_PREFIX + job_id))["problems"]


def push(gh, repository: str, changes: dict[str, str]) -> str:
    """Push ``changes`` as one commit and deliver GitHub's push webhook; the delivery id."""
    gh.push_commit(repository, changes)
    headers, body = push_delivery(gh, repository, sorted(changes), SECRET)
    client = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
    answer = client.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    return headers["X-GitHub-Delivery"]


def test_bad_file_names_are_named_and_the_good_files_become_prs(workers, gh, redis_db):  # noqa: F811
    scan, main, log = workers
    delivery = push(gh, NAMES_REPO, {"k8s/web.yaml": PRIVILEGED_DEPLOYMENT, "infra/main.tf": VOLUME.format(name="data"),
                                     "infra/evil\\name.tf": 'variable "x" {}\n',
                                     **{name: "kind: Pod\n" for name in BAD}})
    fixes = wait_for(lambda: published(redis_db, delivery), 120, "the good files' fixes to be published", log)
    assert {fix["path"] for fix in fixes.values()} == {"k8s/web.yaml", "infra/main.tf"}
    assert {fix["outcome"]["status"] for fix in fixes.values()} == {"created"}
    assert len(gh.repo(NAMES_REPO).pulls) == len(fixes)
    named = problems(redis_db, delivery)
    for name in [*BAD, "infra/evil\\name.tf"]:
        assert any(p.startswith(f"{name!r}: unsafe repository path") for p in named), (name, named)

    # A later push to the same directory (its bad sibling still there) is fetched and fixed too.
    later = push(gh, NAMES_REPO, {"infra/main.tf": VOLUME.format(name="data") + "\n" + VOLUME.format(name="logs")})
    fixes = wait_for(lambda: published(redis_db, later), 120, "the later push's fixes to be published", log)
    created = [fix for fix in fixes.values() if fix["outcome"]["status"] == "created"]
    assert [fix["finding"]["resource"] for fix in created] == ["aws_ebs_volume.logs"], fixes
    assert any(p.startswith("'infra/evil\\\\name.tf': unsafe") for p in problems(redis_db, later))
    assert scan.poll() is None and main.poll() is None


def test_a_push_larger_than_a_job_is_finished_by_a_continuation_job(workers, gh, redis_db):  # noqa: F811
    scan, main, log = workers
    config_maps = {f"m/cm{n:03}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{n}\ndata:\n  k: v\n"
                   for n in range(MAX_JOB_FILES)}
    delivery = push(gh, SPLIT_REPO, {"a/main.tf": VOLUME.format(name="first"), **config_maps,
                                     "z/main.tf": VOLUME.format(name="last")})
    first = wait_for(lambda: published(redis_db, delivery), 180, "the first part's fix", log)
    second = wait_for(lambda: published(redis_db, f"{delivery}:part2"), 180, "the second part's fix", log)
    assert [fix["path"] for fix in first.values()] == ["a/main.tf"]
    assert [fix["path"] for fix in second.values()] == ["z/main.tf"]
    assert {fix["outcome"]["status"] for fix in [*first.values(), *second.values()]} == {"created"}
    record = json.loads(redis_db.get(FETCHED_PREFIX + delivery))
    assert [c["part_files"] for c in record["continuations"]] == [["m/cm299.yaml", "z/main.tf"]]
    # Both PRs name the one push delivery that set them off.
    assert {fix["trigger"]["delivery_id"] for fix in [*first.values(), *second.values()]} == {delivery}

    # The first job redelivered (its fetch sent again) opens nothing new and sends no new part.
    for job_id in (delivery, f"{delivery}:part2"):
        redis_db.delete(PUBLISHED_PREFIX + job_id)
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    job = record["job"]
    celery.send_task(FETCH_TASK, args=[job], queue=REMEDIATE_QUEUE, task_id=f"{delivery}:fetch", ignore_result=True)
    again = wait_for(lambda: published(redis_db, delivery), 60, "the first part republished", log)
    assert {fix["outcome"]["status"] for fix in again.values()} == {"exists"}
    assert len(gh.repo(SPLIT_REPO).pulls) == 2 and scan.poll() is None and main.poll() is None
