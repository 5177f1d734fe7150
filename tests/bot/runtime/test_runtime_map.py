"""Runtime findings (ASFF, iacbot entries) mapped to source through yor tags, a state and addresses.

A small Terraform repository in memory: envs/prod calls the local module modules/bucket twice
(logs, data), declares a for_each volume and a registry module; envs/dev declares the same
root-level volume (so a state without modules names two roots)."""
from __future__ import annotations

import json

import pytest

from bot.findings import asff
from bot.findings.runtime_map import Reason, Refusal, RuntimeFinding, Sources, map_finding
from bot.findings.tf_state import MAX_MODULE_DEPTH, MAX_TAGS, StateError, parse_state
from fixers.catalog import load_catalog
from fixers.models import Finding

PROD = '''module "logs" {
  source = "../../modules/bucket"
  name   = "acme-logs"
}

module "data" {
  source = "../../modules/bucket"
  name   = "acme-data"
}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
}

resource "aws_ebs_volume" "disks" {
  for_each          = toset(["a", "b"])
  availability_zone = "eu-west-1a"
  size              = 10
  tags = {
    Team      = "storage"
    yor_trace = "5f6a1c9e-0b1d-4e8a-9c2f-7d3e4b5a6c01"
  }
}
'''
BUCKET = '''variable "name" {}

resource "aws_s3_bucket" "this" {
  bucket = var.name
  tags = {
    yor_trace = "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
    git_file  = "modules/bucket/main.tf"
  }
}
'''
DEV = '''resource "aws_ebs_volume" "disks" {
  availability_zone = "eu-west-1a"
  size              = 10
  tags = {
    yor_trace = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
  }
}

resource "aws_kms_key" "copy_a" {
  tags = { yor_trace = "dddddddd-0000-4000-8000-000000000001" }
}

resource "aws_kms_key" "copy_b" {
  tags = { yor_trace = "dddddddd-0000-4000-8000-000000000001" }
}
'''
FILES = {"envs/prod/main.tf": PROD, "modules/bucket/main.tf": BUCKET, "envs/dev/main.tf": DEV}


def _resource(address, rtype, name, **values):
    return {"address": address, "mode": "managed", "type": rtype, "name": name, "values": values}


PROD_STATE = {"format_version": "1.0", "values": {"root_module": {
    "resources": [
        _resource('aws_ebs_volume.disks["a"]', "aws_ebs_volume", "disks", id="vol-0aaa",
                  arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0aaa", tags={"Team": "storage"}),
        _resource('aws_ebs_volume.disks["b"]', "aws_ebs_volume", "disks", id="vol-0bbb",
                  arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0bbb", tags={"Team": "storage"}),
        {"address": "data.aws_caller_identity.me", "mode": "data", "type": "aws_caller_identity", "name": "me",
         "values": {"id": "111122223333"}},
    ],
    "child_modules": [
        {"address": "module.logs", "resources": [
            _resource("module.logs.aws_s3_bucket.this", "aws_s3_bucket", "this", id="acme-logs", bucket="acme-logs",
                      arn="arn:aws:s3:::acme-logs")]},
        {"address": "module.data", "resources": [
            _resource("module.data.aws_s3_bucket.this", "aws_s3_bucket", "this", id="acme-data", bucket="acme-data",
                      arn="arn:aws:s3:::acme-data")]},
        {"address": "module.vpc", "resources": [
            _resource("module.vpc.aws_vpc.this[0]", "aws_vpc", "this", id="vpc-0123",
                      arn="arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0123")]},
    ]}}}


def rf(**fields) -> RuntimeFinding:
    return RuntimeFinding(where="test", rule_id=fields.pop("rule_id", "CKV_AWS_3"), **fields)


@pytest.fixture
def sources() -> Sources:
    return Sources(FILES)


@pytest.fixture
def state():
    return parse_state(json.loads(json.dumps(PROD_STATE)))


def block_text(finding: Finding) -> str:
    lines = FILES[finding.file].splitlines()
    return "\n".join(lines[finding.line_start - 1:finding.line_end])


def test_an_arn_in_a_module_called_twice_maps_to_the_modules_block(state, sources):
    found = map_finding(rf(arn="arn:aws:s3:::acme-data", rule_id="CKV_AWS_21"), state, sources)
    assert isinstance(found, Finding), found
    assert (found.file, found.resource, found.rule_id) == ("modules/bucket/main.tf", "aws_s3_bucket.this", "CKV_AWS_21")
    assert block_text(found).startswith('resource "aws_s3_bucket" "this" {') and block_text(found).endswith("}")
    assert "module.data.aws_s3_bucket.this" in found.message


def test_one_for_each_instance_by_arn_maps_to_the_for_each_block(state, sources):
    found = map_finding(rf(arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0bbb"), state, sources)
    assert isinstance(found, Finding), found
    assert (found.file, found.resource) == ("envs/prod/main.tf", "aws_ebs_volume.disks")
    assert block_text(found).startswith('resource "aws_ebs_volume" "disks" {')


def test_a_cloud_id_or_a_bucket_name_is_matched_against_the_state(state, sources):
    assert map_finding(rf(cloud_id="vol-0aaa"), state, sources).file == "envs/prod/main.tf"
    by_name = map_finding(rf(cloud_id="acme-logs"), state, sources)
    assert (by_name.file, by_name.resource) == ("modules/bucket/main.tf", "aws_s3_bucket.this")


def test_tags_that_match_several_instances_are_ambiguous_naming_them(state, sources):
    found = map_finding(rf(tags=(("Team", "storage"),)), state, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.AMBIGUOUS
    assert 'aws_ebs_volume.disks["a"]' in found.detail and 'aws_ebs_volume.disks["b"]' in found.detail


def test_a_yor_trace_tag_maps_to_the_block_that_carries_it_without_any_state(sources):
    found = map_finding(rf(arn="arn:aws:s3:::acme-logs", rule_id="CKV_AWS_21",
                           tags=(("git_file", "modules/bucket/main.tf"),
                                 ("yor_trace", "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"))), None, sources)
    assert isinstance(found, Finding), found
    assert (found.file, found.resource) == ("modules/bucket/main.tf", "aws_s3_bucket.this")
    assert "yor_trace" in found.message


def test_a_yor_trace_is_found_even_when_git_file_names_another_file(sources):
    found = map_finding(rf(tags=(("git_file", "old/place.tf"), ("yor_trace", "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"))),
                        None, sources)
    assert (found.file, found.resource) == ("envs/dev/main.tf", "aws_ebs_volume.disks")


def test_the_same_yor_trace_on_two_blocks_is_ambiguous(sources):
    found = map_finding(rf(tags=(("yor_trace", "dddddddd-0000-4000-8000-000000000001"),)), None, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.AMBIGUOUS
    assert "aws_kms_key.copy_a" in found.detail and "aws_kms_key.copy_b" in found.detail


def test_an_unknown_yor_trace_falls_back_to_the_state(state, sources):
    found = map_finding(rf(arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0aaa",
                           tags=(("yor_trace", "00000000-dead-4000-8000-000000000000"),)), state, sources)
    assert isinstance(found, Finding) and found.file == "envs/prod/main.tf"


def test_a_resource_in_a_registry_module_is_refused_as_not_local(state, sources):
    found = map_finding(rf(arn="arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-0123"), state, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.NOT_LOCAL_MODULE
    assert "terraform-aws-modules/vpc/aws" in found.detail


def test_an_arn_in_no_state_resource_is_not_found_and_says_what_was_tried(state, sources):
    found = map_finding(rf(arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0zzz"), state, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.NOT_FOUND
    assert "vol-0zzz" in found.detail


def test_an_arn_without_a_state_is_not_found_naming_the_missing_state(sources):
    found = map_finding(rf(arn="arn:aws:ec2:eu-west-1:111122223333:volume/vol-0aaa"), None, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.NOT_FOUND and "no state" in found.detail


def test_an_address_given_with_the_finding_follows_the_module_call(state, sources):
    found = map_finding(rf(address="module.logs.aws_s3_bucket.this"), state, sources)
    assert (found.file, found.resource) == ("modules/bucket/main.tf", "aws_s3_bucket.this")


def test_a_root_address_without_a_state_declared_in_two_roots_is_ambiguous(sources):
    found = map_finding(rf(address="aws_ebs_volume.disks"), None, sources)
    assert isinstance(found, Refusal) and found.reason is Reason.AMBIGUOUS
    assert "envs/dev/main.tf" in found.detail and "envs/prod/main.tf" in found.detail


def test_a_module_address_without_a_state_resolves_from_the_root_that_calls_it(sources):
    found = map_finding(rf(address='module.data.aws_s3_bucket.this'), None, sources)
    assert (found.file, found.resource) == ("modules/bucket/main.tf", "aws_s3_bucket.this")


def test_a_state_whose_root_module_two_directories_declare_is_ambiguous():
    files = {"envs/a/main.tf": 'resource "aws_kms_key" "k" {}\n', "envs/b/main.tf": 'resource "aws_kms_key" "k" {}\n'}
    state = parse_state({"values": {"root_module": {"resources": [
        _resource("aws_kms_key.k", "aws_kms_key", "k", arn="arn:aws:kms:eu-west-1:1:key/abc", id="abc")]}}})
    found = map_finding(rf(arn="arn:aws:kms:eu-west-1:1:key/abc", rule_id="CKV_AWS_7"), state, Sources(files))
    assert isinstance(found, Refusal) and found.reason is Reason.AMBIGUOUS and "envs/a" in found.detail


def test_a_module_source_that_leaves_the_repository_is_not_followed():
    files = {"main.tf": 'module "m" {\n  source = "../../outside"\n}\n'}
    found = map_finding(rf(address="module.m.aws_kms_key.k"), None, Sources(files))
    assert isinstance(found, Refusal) and found.reason is Reason.NOT_FOUND


def test_account_level_no_rule_and_no_identity_are_refused_with_their_reason(sources):
    assert map_finding(rf(account_level=True, cloud_id="AWS::::Account:1"), None, sources).reason is Reason.ACCOUNT_LEVEL
    assert map_finding(rf(rule_id=None, control="EC2.2", arn="arn:x"), None, sources).reason is Reason.NO_RULE_MAPPING
    assert map_finding(rf(), None, sources).reason is Reason.NO_IDENTITY


# --- the state -------------------------------------------------------------------------------

def test_the_state_skips_data_sources_and_reads_module_calls(state):
    addresses = {r.address: r.module_calls for r in state.resources}
    assert "data.aws_caller_identity.me" not in addresses
    assert addresses["module.logs.aws_s3_bucket.this"] == ("logs",)
    assert addresses['aws_ebs_volume.disks["a"]'] == ()


def test_a_state_nested_too_deep_or_not_a_state_is_refused():
    module: dict = {"resources": []}
    deep = module
    for _ in range(MAX_MODULE_DEPTH + 1):
        child: dict = {"resources": []}
        deep["child_modules"] = [child]
        deep = child
    with pytest.raises(StateError, match="deeper"):
        parse_state({"values": {"root_module": module}})
    with pytest.raises(StateError, match="values"):
        parse_state({"resources": []})


def test_a_state_resource_with_too_many_tags_is_skipped_with_a_problem():
    tags = {f"k{i}": "v" for i in range(MAX_TAGS + 1)}
    state = parse_state({"values": {"root_module": {"resources": [_resource("aws_kms_key.k", "aws_kms_key", "k", tags=tags)]}}})
    assert state.resources == () and "tags" in state.problems[0]


# --- ASFF ------------------------------------------------------------------------------------

def _asff(resources, **extra):
    return {"SchemaVersion": "2018-10-08", "Id": "x", "GeneratorId": "security-control/S3.14",
            "Title": "S3 buckets should have versioning enabled", "Severity": {"Label": "LOW"},
            "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.14"}, "Resources": resources, **extra}


def test_asff_maps_known_controls_to_checkov_rules_and_names_the_rest():
    raw = {"Findings": [
        _asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::acme-logs", "Tags": {"yor_trace": "t"}}]),
        _asff([{"Type": "AwsEc2SecurityGroup", "Id": "arn:aws:ec2:eu-west-1:1:security-group/sg-1"}],
              Compliance={"Status": "FAILED", "SecurityControlId": "EC2.2"}),
        _asff([{"Type": "AwsEc2Volume", "Id": "arn:aws:ec2:eu-west-1:1:volume/vol-1"}], GeneratorId="CKV_AWS_3",
              Compliance={"Status": "FAILED"}),
    ]}
    found, problems = asff.parse(raw, load_catalog())
    assert problems == []
    assert [f.rule_id for f in found] == ["CKV_AWS_21", None, "CKV_AWS_3"]
    assert found[0].arn == "arn:aws:s3:::acme-logs" and found[0].tags == (("yor_trace", "t"),)
    assert found[1].control == "EC2.2"


def test_asff_skips_passed_suppressed_and_archived_findings():
    raw = [_asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}], Compliance={"Status": "PASSED"}),
           _asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}], Workflow={"Status": "SUPPRESSED"}),
           _asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}], RecordState="ARCHIVED")]
    assert asff.looks_like_asff(raw)
    assert asff.parse(raw, {}) == ([], [])


def test_asff_account_and_several_resources_are_flagged_not_guessed(sources):
    account = asff.parse([_asff([{"Type": "AwsAccount", "Id": "AWS::::Account:111122223333"}])], {})[0][0]
    several = asff.parse([_asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::acme-logs"},
                                 {"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::acme-data"}])], {})[0][0]
    assert map_finding(account, None, sources).reason is Reason.ACCOUNT_LEVEL
    refused = map_finding(several, None, sources)
    assert refused.reason is Reason.AMBIGUOUS and "acme-logs" in refused.detail


def test_asff_bounds_findings_resources_and_tags(monkeypatch):
    monkeypatch.setattr(asff, "MAX_FINDINGS", 2)
    one = _asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}])
    found, problems = asff.parse([one, one, one], {})
    assert len(found) == 2 and "1 findings refused" in str(problems[0])
    _, problems = asff.parse([_asff([{"Type": "AwsS3Bucket", "Id": "x"}] * (asff.MAX_RESOURCES + 1))], {})
    assert "over the cap of 32" in str(problems[0])
    tags = {f"k{i}": "v" for i in range(MAX_TAGS + 1)}
    found, problems = asff.parse([_asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Tags": tags}])], {})
    assert found == [] and "tags" in str(problems[0])


# --- iacbot's entries through load_findings_file ------------------------------------------------

def test_iacbot_entries_name_a_file_or_a_live_resource(tmp_path):
    from bot.findings import load_findings_file
    for path, text in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    doc = tmp_path / "findings.json"
    doc.write_text(json.dumps({"findings": [
        {"rule_id": "CKV_AWS_21", "address": "module.logs.aws_s3_bucket.this", "source": "my-cloud-tool"},
        {"rule_id": "CKV_AWS_3", "file": "envs/dev/main.tf", "resource": "aws_ebs_volume.disks", "line_start": 1},
        {"rule_id": "CKV_AWS_3", "cloud_id": "vol-0bbb"},
        {"rule_id": "CKV_AWS_3", "tags": {"Team": "storage"}},
        {"rule_id": "CKV_AWS_3", "tags": {"Team": 7}},
    ]}))
    state = parse_state(PROD_STATE)
    findings, problems = load_findings_file(doc, tmp_path, state)
    assert [(f.file, f.resource, f.source) for f in findings] == [
        ("envs/dev/main.tf", "aws_ebs_volume.disks", "iacbot"),
        ("modules/bucket/main.tf", "aws_s3_bucket.this", "my-cloud-tool"),
        ("envs/prod/main.tf", "aws_ebs_volume.disks", "runtime")]
    assert [p.where.rsplit(": ", 1)[1] for p in problems] == ["findings[4]", "findings[3]"]
    assert "tags" in problems[0].what and problems[1].what.startswith("ambiguous:")


def test_the_rules_resource_type_tells_a_bucket_from_its_companions_sharing_its_name():
    files = {"main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "acme"\n}\n\n'
                        'resource "aws_s3_bucket_versioning" "b" {\n  bucket = aws_s3_bucket.b.id\n}\n'}
    state = parse_state({"values": {"root_module": {"resources": [
        _resource("aws_s3_bucket.b", "aws_s3_bucket", "b", id="acme", bucket="acme", arn="arn:aws:s3:::acme"),
        _resource("aws_s3_bucket_versioning.b", "aws_s3_bucket_versioning", "b", id="acme", bucket="acme")]}}})
    typed = map_finding(rf(cloud_id="acme", rule_id="CKV_AWS_21", tf_type="aws_s3_bucket"), state, Sources(files))
    assert (typed.file, typed.resource) == ("main.tf", "aws_s3_bucket.b")
    untyped = map_finding(rf(cloud_id="acme", rule_id="CKV_AWS_21"), state, Sources(files))
    assert isinstance(untyped, Refusal) and untyped.reason is Reason.AMBIGUOUS
    wrong = map_finding(rf(address="aws_s3_bucket_versioning.b", tf_type="aws_s3_bucket"), None, Sources(files))
    assert isinstance(wrong, Refusal) and wrong.reason is Reason.NOT_FOUND and "checks aws_s3_bucket" in wrong.detail


def test_asff_carries_the_controls_terraform_type():
    found, _ = asff.parse([_asff([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::acme"}])], {})
    assert (found[0].rule_id, found[0].tf_type) == ("CKV_AWS_21", "aws_s3_bucket")


def test_the_sources_index_answers_the_same_after_caching(state, sources):
    first = map_finding(rf(arn="arn:aws:s3:::acme-data", rule_id="CKV_AWS_21"), state, sources)
    again = map_finding(rf(arn="arn:aws:s3:::acme-logs", rule_id="CKV_AWS_21"), state, sources)
    assert (first.file, first.line_start) == (again.file, again.line_start) == ("modules/bucket/main.tf", 3)


# --- the edge: files read, bounded ---------------------------------------------------------

def test_a_state_file_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from bot.findings import runtime
    path = tmp_path / "state.json"
    path.write_text(json.dumps(PROD_STATE))
    assert len(runtime.load_state(path).resources) == 5
    monkeypatch.setattr(runtime, "MAX_STATE_BYTES", 100)
    with pytest.raises(StateError, match="over the cap of 100"):
        runtime.load_state(path)
    path.write_text("[" * 100_000)
    monkeypatch.setattr(runtime, "MAX_STATE_BYTES", 1_000_000)
    with pytest.raises(StateError, match="not JSON"):
        runtime.load_state(path)


def test_the_repository_read_for_mapping_is_bounded_and_skips_terraform_caches(tmp_path, monkeypatch):
    from bot.findings import runtime
    for name in ("a.tf", "b.tf", "c.tf", ".terraform/modules/x/main.tf"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('resource "aws_kms_key" "k" {}\n')
    sources, problems = runtime.read_sources(tmp_path)
    assert sorted(sources.files) == ["a.tf", "b.tf", "c.tf"] and problems == []
    monkeypatch.setattr(runtime, "MAX_TF_FILES", 2)
    sources, problems = runtime.read_sources(tmp_path)
    assert len(sources.files) == 2 and "more than 2 .tf files" in problems[0].what
