"""What a fetch reads from GitHub (the double, a read-only token), in-process: bad file names are
refused one by one and named while the rest is read (issue 7 item 4), and what a job costs is
bounded (item 5): one tree read, blobs read once each, a few at a time, at most MAX_JOB_FILES
files per job, the rest sent on as continuation jobs or reported with its count."""
from __future__ import annotations

import re

import pytest

from bot.github.auth import installation_session
from fixers.models import Finding
from tests.github_double import GitHubDouble, new_app_key_pem
from workers import job_parts, job_sources
from workers.github_fetch import FETCH_CONCURRENCY, MAX_FILE_BYTES, READ_PERMISSIONS
from workers.job_parts import MAX_JOB_FILES, MAX_JOB_PARTS, Scope

APP_ID = 484848
MAIN_TF = 'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'
POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p{n}\nspec:\n  containers:\n    - name: c\n      image: nginx\n"
BAD_NAMES = {"../x.tf": "a '..' component", "dir/evil\\name.yaml": "a backslash",
             "dir/new\nline.yaml": "a control or formatting character"}
NAMES_REPO = {"README.md": "# names\n", "k8s/web.yaml": POD.format(n=0), "dir/good.yaml": POD.format(n=1),
              "infra/main.tf": MAIN_TF, "infra/vars.tf": 'variable "v" {}\n',
              "infra/evil\\name.tf": 'variable "w" {}\n', "infra/tab\tname.tf": 'variable "t" {}\n',
              **{name: "kind: Pod\n" for name in BAD_NAMES}}
MANY = 40
MANY_REPO = {**{f"k8s/pod{n:02}.yaml": POD.format(n=n) for n in range(MANY)},
             **{f"copies/same{n}.yaml": POD.format(n="same") for n in range(5)},
             "k8s/huge.yaml": "#" * (MAX_FILE_BYTES + 1), "infra/main.tf": MAIN_TF, "infra/vars.tf": 'variable "v" {}\n'}
SPLIT_FILES = 2 * MAX_JOB_FILES + 50
REPOS = {"octo/names": NAMES_REPO, "octo/names-forced": NAMES_REPO, "octo/names-findings": NAMES_REPO,
         "octo/many": MANY_REPO, "octo/truncated": NAMES_REPO,
         "octo/monorepo": {f"apps/{n:04}/pod.yaml": POD.format(n=n) for n in range(SPLIT_FILES)},
         "octo/huge-module": {f"infra/m{n:03}.tf": f'variable "v{n}" {{}}\n' for n in range(MAX_JOB_FILES + 1)}}


@pytest.fixture(scope="module")
def key() -> str:
    return new_app_key_pem()


@pytest.fixture(scope="module")
def gh(key):
    with GitHubDouble() as double:
        for name, files in REPOS.items():
            double.create_repo(name, files=files)
        double.installation = double.install_app(APP_ID, key, repos=list(REPOS))
        yield double
        assert double.violations == [], double.violations


def head(gh, repo: str) -> str:
    return gh.repo(repo).refs["refs/heads/main"]


def fetch(gh, key, repo: str, plan: job_sources.Plan | None = None, **job) -> job_sources.Fetched:
    """Run the fetch of ``job`` with a read-only token; the double's traffic counts only the fetch."""
    job = {"kind": "scan_push", "installation_id": gh.installation.id, "repository": repo, **job}
    with installation_session(APP_ID, key, gh.installation.id, repo, READ_PERMISSIONS, gh.base_url) as token:
        gh.reset_traffic()
        fetched = job_sources.fetch(job_sources.validate(job), plan or job_sources.Plan(READ_PERMISSIONS), token)
        gh.requests_made = gh.requests
    return fetched


def problem_for(problems: list[str], name: str) -> str:
    found = [p for p in problems if p.startswith(repr(name) + ":")]
    assert len(found) == 1, (name, problems)
    return found[0]


def test_bad_names_in_a_push_are_named_and_every_good_file_is_read(gh, key):
    listed = ["k8s/web.yaml", "dir/good.yaml", "infra/main.tf", *BAD_NAMES]
    fetched = fetch(gh, key, "octo/names", head_sha=head(gh, "octo/names"), changed_files=listed)
    assert set(fetched.files) == {"k8s/web.yaml", "dir/good.yaml", "infra/main.tf", "infra/vars.tf"}
    assert fetched.files["infra/main.tf"] == MAIN_TF.encode() and fetched.findings is None
    for name, reason in BAD_NAMES.items():
        assert f"unsafe repository path ({reason}" in problem_for(fetched.problems, name)
    # The Terraform siblings with such names are named too; their directory is read all the same.
    assert "left out of its directory's scan" in problem_for(fetched.problems, "infra/evil\\name.tf")
    assert "a control or formatting character" in problem_for(fetched.problems, "infra/tab\tname.tf")
    assert not any(ch in p for p in fetched.problems for ch in "\n\t")  # repr-quoted: no forged lines


def test_a_later_push_to_the_same_directory_is_read_again(gh, key):
    gh.push_commit("octo/names", {"infra/main.tf": MAIN_TF + "# edited\n"})
    fetched = fetch(gh, key, "octo/names", head_sha=head(gh, "octo/names"), changed_files=["infra/main.tf"])
    assert fetched.files["infra/main.tf"] == (MAIN_TF + "# edited\n").encode()
    assert set(fetched.files) == {"infra/main.tf", "infra/vars.tf"}
    assert len(fetched.problems) == 2  # the two bad siblings, named again, blocking nothing


def test_a_forced_push_names_the_bad_files_its_tree_comparison_finds(gh, key):
    before, after = gh.push_commit("octo/names-forced", {"k8s/web.yaml": POD.format(n=9), "new/..\\x.yaml": "a: 1\n",
                                                         "new/ok.yaml": "a: 1\n", "new/\x1b[2Jclear.yml": "a: 1\n"})
    fetched = fetch(gh, key, "octo/names-forced", head_sha=after, before=before, changed_files=[], files_complete=False)
    assert set(fetched.files) == {"k8s/web.yaml", "new/ok.yaml"}
    assert "a backslash" in problem_for(fetched.problems, "new/..\\x.yaml")
    assert "a control or formatting character" in problem_for(fetched.problems, "new/\x1b[2Jclear.yml")
    assert not any("\x1b" in p for p in fetched.problems)


def test_findings_on_bad_paths_are_named_and_the_others_kept(gh, key):
    def finding(file: str) -> Finding:
        return Finding("CKV_K8S_16", file, "Pod.default.p", 1, 9)

    findings = [finding("k8s/web.yaml"), finding("dir/evil\\name.yaml"), finding("../x.tf")]
    plan = job_sources.Plan(READ_PERMISSIONS, findings)
    fetched = fetch(gh, key, "octo/names-findings", plan, kind="findings_submitted", submission_id="s-1",
                    commit_sha=head(gh, "octo/names-findings"))
    assert set(fetched.files) == {"k8s/web.yaml"} and [f.file for f in fetched.findings] == ["k8s/web.yaml"]
    assert [p.startswith("CKV_K8S_16: 'dir/evil\\\\name.yaml': unsafe") for p in fetched.problems] == [True, False]
    assert fetched.problems[1].startswith("CKV_K8S_16: '../x.tf': unsafe")


def test_files_are_read_as_blobs_from_one_tree_read_each_blob_once(gh, key):
    listed = sorted(MANY_REPO)
    fetched = fetch(gh, key, "octo/many", head_sha=head(gh, "octo/many"), changed_files=listed)
    assert set(fetched.files) == set(listed) - {"k8s/huge.yaml"}
    assert any(p.startswith("'k8s/huge.yaml': ") and "larger than" in p for p in fetched.problems)
    blobs = gh.requests_matching("GET", r"/git/blobs/")
    # Before: one contents read per file (47 files: 47 reads, one after another, plus a tree read
    # for the Terraform siblings). After: one tree read and one read per distinct blob; the file
    # over the size cap is not read at all, the five copies are read once.
    assert gh.requests_matching("GET", r"/contents/") == []
    assert len(gh.requests_matching("GET", r"/git/trees/")) == 1
    assert len(blobs) == len(set(blobs)) == MANY + 1 + 2  # the pods, the copies' one blob, two .tf files
    assert len(gh.requests_made) == 1 + len(blobs)


def test_blobs_are_read_several_at_once_and_never_more(gh, key):
    # Blob reads are held until one more than FETCH_CONCURRENCY are in flight together, which a
    # bounded client never reaches: after the gathering's timeout exactly FETCH_CONCURRENCY were
    # held. A count, not a clock (a sequential client would have been held one at a time).
    gathering = gh.gather("GET", r"/repos/octo/many/git/blobs/", FETCH_CONCURRENCY + 1, timeout=3)
    fetched = fetch(gh, key, "octo/many", head_sha=head(gh, "octo/many"),
                    changed_files=[f"k8s/pod{n:02}.yaml" for n in range(10)])
    assert len(fetched.files) == 10
    assert gathering.arrived == FETCH_CONCURRENCY and not gathering.met


def test_a_truncated_tree_falls_back_to_the_contents_api(gh, key):
    gh.world.tree_entry_limit = 3  # GitHub's is 100,000 entries
    try:
        listed = ["k8s/web.yaml", "infra/main.tf", *BAD_NAMES]
        fetched = fetch(gh, key, "octo/truncated", head_sha=head(gh, "octo/truncated"), changed_files=listed)
    finally:
        gh.world.tree_entry_limit = 100_000
    assert set(fetched.files) == {"k8s/web.yaml", "infra/main.tf", "infra/vars.tf"}
    assert "left out of its directory's scan" in problem_for(fetched.problems, "infra/evil\\name.tf")
    for name in BAD_NAMES:
        problem_for(fetched.problems, name)
    # One tree read (cut short), one listing for the Terraform directory, one read per file.
    assert len(gh.requests_matching("GET", r"/git/trees/")) == 1
    assert len(gh.requests_matching("GET", r"/contents/")) == 1 + 3
    assert gh.requests_matching("GET", r"/git/blobs/") == []


def test_a_push_of_more_files_than_a_job_reads_is_split_into_continuations(gh, key):
    sha = head(gh, "octo/monorepo")
    listed = sorted(REPOS["octo/monorepo"])
    fetched = fetch(gh, key, "octo/monorepo", head_sha=sha, changed_files=listed, delivery_id="d-1")
    assert sorted(fetched.files) == listed[:MAX_JOB_FILES] and fetched.problems == []
    assert len(gh.requests_made) == 1 + MAX_JOB_FILES
    parts = fetched.continuations
    assert [c["delivery_id"] for c in parts] == ["d-1:part2", "d-1:part3"]
    assert [c["part_files"] for c in parts] == [listed[MAX_JOB_FILES:2 * MAX_JOB_FILES], listed[2 * MAX_JOB_FILES:]]
    assert all(c["part_of"] == "d-1" and "changed_files" not in c for c in parts)
    assert job_sources.trigger(parts[0], "d-1:part2")["delivery_id"] == "d-1"
    # A continuation reads exactly its part, and sends on nothing more.
    third = fetch(gh, key, "octo/monorepo", **{k: v for k, v in parts[1].items() if k != "kind"})
    assert sorted(third.files) == listed[2 * MAX_JOB_FILES:] and third.continuations == []
    assert len(gh.requests_made) == 1 + 50


def test_a_directory_larger_than_a_job_is_named_not_read(gh, key):
    sha = head(gh, "octo/huge-module")
    fetched = fetch(gh, key, "octo/huge-module", head_sha=sha, changed_files=["infra/m000.tf"], delivery_id="d-2")
    assert fetched.files == {} and fetched.findings == [] and fetched.continuations == []
    assert fetched.problems == [f"infra/: {MAX_JOB_FILES + 1} .tf files in one directory, more than the "
                                f"{MAX_JOB_FILES} one job reads; not scanned"]
    assert len(gh.requests_made) == 1  # the tree: nothing else is paid for


def test_scopes_keep_a_terraform_directory_together():
    found = job_parts.scopes(["b/x.yaml", "m/main.tf", "m/prod.tfvars", "a.yaml"], ["m/vars.tf", "other/x.tf"])
    assert found == [Scope("a.yaml", ("a.yaml",)), Scope("b/x.yaml", ("b/x.yaml",)),
                     Scope("m", ("m/main.tf", "m/prod.tfvars", "m/vars.tf"))]
    split = job_parts.split(found, max_files=3, max_parts=5)
    assert split.parts == (("a.yaml", "b/x.yaml"), ("m/main.tf", "m/prod.tfvars", "m/vars.tf"))


def test_what_is_beyond_the_last_part_is_counted():
    scopes = [Scope(f"f{n}", (f"f{n}",)) for n in range(10)] + [Scope("big", tuple(f"big/{n}.tf" for n in range(4)))]
    split = job_parts.split(scopes, max_files=3, max_parts=2)
    assert split.parts == (("f0", "f1", "f2"), ("f3", "f4", "f5")) and split.beyond == 4 and split.oversized[0].name == "big"
    problems = split.problems("o/r@abc")
    assert problems[0].startswith("big/: 4 .tf files in one directory")
    assert problems[1] == (f"o/r@abc: 4 more files beyond the {MAX_JOB_PARTS} jobs of at most {MAX_JOB_FILES} files "
                           f"one delivery is split into; not scanned")


@pytest.mark.parametrize("part", [[], "a.yaml", [1], ["a.yaml"] * (MAX_JOB_FILES + 1)],
                         ids=["no part_of", "not a list", "not strings", "too many"])
def test_a_malformed_continuation_is_refused(part):
    job = {"kind": "scan_push", "installation_id": 1, "repository": "o/r", "head_sha": "a" * 40, "part_of": "d"}
    if part == []:
        job.pop("part_of")
    with pytest.raises(ValueError, match="part_files"):
        job_sources.validate({**job, "part_files": part})
