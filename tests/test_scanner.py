"""The checkov scanner process and its client, tested against the real process and checkov CLI."""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixers.scanner import REPO_ROOT, Scanner, ScannerError, ScanResult
from tests.paths import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "scanner"
CHECKOV_CLI = REPO_ROOT / ".venv-scanner" / "bin" / "checkov"
TERRAGOAT_AWS = CORPUS / "terragoat" / "terraform" / "aws"
KUBERNETES_GOAT_SCENARIOS = CORPUS / "kubernetes-goat" / "scenarios"

@pytest.fixture(scope="module")
def scanner():
    with Scanner() as shared:
        yield shared


def statuses(result: ScanResult, check_id: str) -> dict[str, set[str]]:
    """{file: {"failed"/"passed"}} for one check, to assert on meaning rather than on counts."""
    found: dict[str, set[str]] = collections.defaultdict(set)
    for status, records in (("failed", result.failed), ("passed", result.passed)):
        for record in records:
            if record.check_id == check_id:
                found[record.file].add(status)
    return dict(found)


def test_ping_reports_the_checkov_version(scanner):
    version = scanner.ping()
    assert version.count(".") == 2 and version.split(".")[0].isdigit()


def test_terraform_failing_and_passing_files(scanner):
    result = scanner.scan(FIXTURES / "terraform_fail")
    failed = [record for record in result.failed if record.check_id == "CKV_AWS_79"]
    assert [record.key for record in failed] == [("CKV_AWS_79", "aws_instance.web", "main.tf")]
    assert (failed[0].line_start, failed[0].line_end) == (2, 9)  # the resource block, comment excluded
    assert failed[0].evaluated_keys == ("metadata_options/[0]/http_tokens",)
    assert failed[0].raw["file_path"] == "/main.tf"

    passing = scanner.scan(FIXTURES / "terraform_pass")
    assert statuses(passing, "CKV_AWS_79") == {"main.tf": {"passed"}}


def test_kubernetes_failing_and_passing_manifests(scanner):
    result = scanner.scan(FIXTURES)
    assert statuses(result, "CKV_K8S_16") == {"k8s_fail/pod.yaml": {"failed"}, "k8s_pass/pod.yaml": {"passed"}}
    failed = next(record for record in result.failed if record.check_id == "CKV_K8S_16")
    assert failed.resource == "Pod.shop.web"
    assert failed.evaluated_keys == ("spec/containers/[0]/securityContext/privileged",)


def test_scanning_listed_files_only(scanner):
    result = scanner.scan(FIXTURES, files=[FIXTURES / "k8s_fail" / "pod.yaml", Path("terraform_pass/main.tf")])
    assert {record.file for record in result.failed + result.passed} == {"k8s_fail/pod.yaml", "terraform_pass/main.tf"}


def test_parsing_errors_are_reported_root_relative(scanner):
    result = scanner.scan(FIXTURES / "invalid")
    assert result.parsing_errors == ("broken.tf",)
    # The valid sibling is still scanned.
    assert statuses(result, "CKV_AWS_79") == {"ok.tf": {"failed"}}


def test_scan_texts_uses_the_given_relative_paths(scanner):
    texts = {
        "infra/ec2.tf": (FIXTURES / "terraform_fail" / "main.tf").read_text(),
        "k8s/pod.yaml": (FIXTURES / "k8s_pass" / "pod.yaml").read_text(),
        "infra/broken.tf": (FIXTURES / "invalid" / "broken.tf").read_text(),
    }
    result = scanner.scan_texts(texts)
    assert statuses(result, "CKV_AWS_79") == {"infra/ec2.tf": {"failed"}}
    assert statuses(result, "CKV_K8S_16") == {"k8s/pod.yaml": {"passed"}}
    assert result.parsing_errors == ("infra/broken.tf",)


def test_scan_texts_rejects_paths_escaping_the_root(scanner):
    with pytest.raises(ScannerError, match="relative paths"):
        scanner.scan_texts({"../escape.tf": ""})


def test_repeated_scans_give_identical_results(scanner):
    first = scanner.scan(FIXTURES)
    scanner.scan(FIXTURES / "terraform_pass")  # something else in between must not leak state
    second = scanner.scan(FIXTURES)
    assert sorted(record.raw.items().__repr__() for record in first.failed) == sorted(
        record.raw.items().__repr__() for record in second.failed
    )
    assert len(first.passed) == len(second.passed) and first.parsing_errors == second.parsing_errors


def test_a_rescan_sees_edited_files(scanner, tmp_path):
    # Verification re-scans the same path after a patch: nothing may be cached by path.
    target = tmp_path / "main.tf"
    shutil.copy(FIXTURES / "terraform_fail" / "main.tf", target)
    assert statuses(scanner.scan(tmp_path), "CKV_AWS_79") == {"main.tf": {"failed"}}
    shutil.copy(FIXTURES / "terraform_pass" / "main.tf", target)
    assert statuses(scanner.scan(tmp_path), "CKV_AWS_79") == {"main.tf": {"passed"}}


def test_a_bad_request_is_refused_and_the_server_keeps_serving(scanner, tmp_path):
    process_before = scanner._process
    with pytest.raises(ScannerError, match="does not exist"):
        scanner.scan(tmp_path / "missing")
    with pytest.raises(ScannerError, match="unknown op"):
        scanner._request({"op": "no-such-op"})
    assert scanner.ping()
    assert scanner._process is process_before


def test_a_dead_process_is_restarted_on_the_next_call(scanner):
    scanner._process.kill()
    scanner._process.wait()
    assert scanner.ping()
    assert statuses(scanner.scan(FIXTURES / "terraform_pass"), "CKV_AWS_79") == {"main.tf": {"passed"}}


def test_a_crash_reports_the_last_lines_of_stderr():
    # The engine's own python has no checkov: the server dies at import, and the error shows why.
    with Scanner(python=Path(sys.executable), timeout=60) as broken:
        with pytest.raises(ScannerError, match="exited(.|\n)*No module named 'checkov'"):
            broken.ping()


def test_a_timeout_is_reported_and_the_process_replaced(tmp_path):
    with Scanner(timeout=0.01) as impatient:
        with pytest.raises(ScannerError, match="no answer within"):
            impatient.ping()
        assert impatient._process is None


def test_missing_environment_says_how_to_create_it(tmp_path):
    with pytest.raises(ScannerError, match="scripts/setup"):
        Scanner(python=tmp_path / "no-python").ping()


def test_same_failed_results_as_the_checkov_cli(scanner, tmp_path):
    # A small mixed root: one Terraform corpus directory and a few Kubernetes scenarios.
    root = tmp_path / "mixed"
    shutil.copytree(TERRAGOAT_AWS, root / "aws")
    for name in ("docker-bench-security", "hunger-check", "system-monitor"):
        shutil.copytree(KUBERNETES_GOAT_SCENARIOS / name, root / name)
    cli = subprocess.run(
        [str(CHECKOV_CLI), "-d", str(root), "--framework", "terraform", "kubernetes",
         "-o", "json", "--compact", "--skip-download", "--quiet"],
        capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=300,
    )
    reports = json.loads(cli.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    cli_failed = collections.Counter(
        (record["check_id"], record["file_path"], record["resource"])
        for report in reports
        for record in report["results"]["failed_checks"]
    )
    ours = scanner.scan(root)
    our_failed = collections.Counter((record.check_id, record.raw["file_path"], record.resource) for record in ours.failed)
    assert {check_type for check_type in (report["check_type"] for report in reports)} == {"terraform", "kubernetes"}
    assert our_failed == cli_failed


# -- what a scan may cost (scanner/iacbot_scanner/limits.py, bounded.py) ---------------------------

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"


def hostile_repo(root: Path, bomb: str = "billion-laughs.yaml") -> Path:
    """A vulnerable pod and Terraform file next to a file that would cost too much."""
    shutil.copytree(FIXTURES / "k8s_fail", root / "k8s")
    shutil.copytree(FIXTURES / "terraform_fail", root / "tf")
    shutil.copy(HOSTILE / bomb, root / "k8s" / "bomb.yaml")
    return root


def refused(result: ScanResult) -> dict[str, str]:
    return {r.file: r.bound for r in result.refused}


def test_costly_files_are_refused_by_name_and_the_rest_is_scanned(scanner, tmp_path):
    root = hostile_repo(tmp_path)
    (root / "k8s" / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (root / "tf" / "huge.tf").write_text("# padding\n" * 300_000)
    process = scanner._process
    result = scanner.scan(root)
    assert refused(result) == {"k8s/bomb.yaml": "YAML alias expansion", "k8s/deep.json": "nesting depth",
                               "tf/huge.tf": "file size"}
    assert statuses(result, "CKV_K8S_16") == {"k8s/pod.yaml": {"failed"}}
    assert statuses(result, "CKV_AWS_79") == {"tf/main.tf": {"failed"}}
    assert [r.problem() for r in result.refused][0] == (
        "k8s/bomb.yaml: refused (YAML alias expansion: expands to more than 200000 nodes); not scanned")
    # Listed files are pre-checked the same way.
    listed = scanner.scan(root, files=[root / "k8s" / "bomb.yaml", root / "k8s" / "pod.yaml"])
    assert refused(listed) == {"k8s/bomb.yaml": "YAML alias expansion"}
    assert statuses(listed, "CKV_K8S_16") == {"k8s/pod.yaml": {"failed"}}
    assert scanner._process is process  # nothing died


@pytest.fixture
def precheck_off(monkeypatch):
    """A scanner that lets the alias bomb through to checkov, to show the bounds behind the pre-check."""
    monkeypatch.setenv("IACBOT_SCAN_MAX_YAML_NODES", str(10**12))


def test_a_file_over_the_memory_bound_is_refused_and_the_scanner_lives_on(precheck_off, monkeypatch, tmp_path):
    monkeypatch.setenv("IACBOT_SCAN_MEMORY_BYTES", str(300 * 1024 * 1024))
    root = hostile_repo(tmp_path, "million-laughs.yaml")   # ~750 MB in checkov
    with Scanner() as bounded:
        result = bounded.scan(root)
        process = bounded._process
        assert refused(result) == {"k8s/bomb.yaml": "memory"}, result.refused
        assert statuses(result, "CKV_K8S_16") == {"k8s/pod.yaml": {"failed"}}
        assert statuses(result, "CKV_AWS_79") == {"tf/main.tf": {"failed"}}
        assert statuses(bounded.scan(FIXTURES / "terraform_pass"), "CKV_AWS_79") == {"main.tf": {"passed"}}
        assert bounded._process is process


def test_a_file_over_the_time_bound_is_refused(precheck_off, monkeypatch, tmp_path):
    monkeypatch.setenv("IACBOT_SCAN_TIMEOUT_SECONDS", "5")   # checkov needs ~30 s for the million laughs
    root = hostile_repo(tmp_path, "million-laughs.yaml")
    with Scanner() as bounded:
        result = bounded.scan(root)
    assert refused(result) == {"k8s/bomb.yaml": "time"}, result.refused
    assert "no result within 5 s" in result.refused[0].detail
    assert statuses(result, "CKV_K8S_16") == {"k8s/pod.yaml": {"failed"}}


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_scanner_killed_mid_scan_is_restarted_and_the_scan_goes_on(precheck_off, monkeypatch, tmp_path):
    """As the out-of-memory killer would: the scanner process dies under a request; the client
    starts a new one and sends the request again (its bounded scan child dies with it)."""
    import threading

    from tests.celery_worker import wait_for

    monkeypatch.setenv("IACBOT_SCAN_TIMEOUT_SECONDS", "5")
    root = hostile_repo(tmp_path, "million-laughs.yaml")
    with Scanner() as bounded:
        bounded.ping()
        first = bounded._process
        results = []
        thread = threading.Thread(target=lambda: results.append(bounded.scan(root)))
        thread.start()
        grandchild = wait_for(lambda: _children(first.pid), 60, "the scan child to start")[0]
        first.kill()
        thread.join(timeout=120)
        assert results, "the scan did not return"
        assert bounded._process is not first and bounded._process.poll() is None
        wait_for(lambda: not Path(f"/proc/{grandchild}").exists() or
                 Path(f"/proc/{grandchild}/stat").read_text().split()[2] == "Z", 30, "the orphaned scan to die")
    assert refused(results[0]) == {"k8s/bomb.yaml": "time"}
    assert statuses(results[0], "CKV_K8S_16") == {"k8s/pod.yaml": {"failed"}}
