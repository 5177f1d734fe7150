"""The verification judgement (pure): target must pass, nothing may newly fail, files must parse."""
from fixers.verify import Blind, blind_files, judge, normalize_resource, scan_key, unparseable_files


def test_module_prefixes_and_indexes_are_one_block():
    assert normalize_resource("module.logs.aws_s3_bucket.this[0]") == "aws_s3_bucket.this"
    assert normalize_resource('module.a["x"].module.b.aws_kms_key.k') == "aws_kms_key.k"
    assert normalize_resource("Deployment.default.web") == "Deployment.default.web"


def test_clean_when_target_passes_and_nothing_new_fails():
    target = scan_key("CKV_K8S_20", "a.yaml", "Pod.default.p")
    other = scan_key("CKV_K8S_43", "a.yaml", "Pod.default.p")
    verdict = judge({target}, failed_before={target, other}, failed_after={other})
    assert verdict.clean


def test_target_still_failing_is_not_clean():
    target = scan_key("CKV_K8S_20", "a.yaml", "Pod.default.p")
    verdict = judge({target}, failed_before={target}, failed_after={target})
    assert not verdict.clean and verdict.still_failing == {target}


def test_new_failure_is_not_clean():
    target = scan_key("CKV_K8S_20", "a.yaml", "Pod.default.p")
    new = scan_key("CKV_K8S_99", "a.yaml", "Pod.default.p")
    verdict = judge({target}, failed_before={target}, failed_after={new})
    assert not verdict.clean and verdict.new_failures == {new}


def test_unparseable_patch_is_named():
    broken = unparseable_files({"a.yaml": "a: [\n", "b.tf": 'resource "x" "y" {}\n'})
    assert set(broken) == {"a.yaml"} and "line" in broken["a.yaml"]
    assert not judge(set(), set(), set(), broken).clean


def test_a_file_checkov_could_not_parse_or_ran_no_check_on_is_blind():
    blind = blind_files(["a.tf", "b.yaml", "c.yaml"], parsing_errors=["a.tf"], scanned=["a.tf", "c.yaml"])
    assert blind == {"a.tf": Blind.CANNOT_PARSE, "b.yaml": Blind.NO_CHECK}
    assert Blind.CANNOT_PARSE.reason("a.tf") == "checkov cannot parse a.tf: the re-scan proves nothing"
    target = scan_key("CKV_AWS_3", "a.tf", "aws_ebs_volume.data")
    assert not judge({target}, {target}, set(), blind=blind).clean
    assert judge({target}, {target}, set(), blind={}).clean
