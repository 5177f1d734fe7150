"""Whatever JSON arrives as ASFF, iacbot entries or a state, nothing raises but StateError: each
unreadable entry is a problem or a refusal, and the good entry beside it is still mapped."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.findings import asff
from bot.findings.runtime import parse_iacbot
from bot.findings.runtime_map import Refusal, Sources, map_finding
from bot.findings.tf_state import StateError, parse_state
from fixers.models import Finding
from tests.strategies import JSON

SOURCES = Sources({"main.tf": 'resource "aws_kms_key" "k" {\n  tags = { yor_trace = "t-1" }\n}\n'})
GOOD = {"SchemaVersion": "2018-10-08", "Compliance": {"Status": "FAILED", "SecurityControlId": "KMS.4"},
        "Resources": [{"Type": "AwsKmsKey", "Id": "arn:aws:kms:eu-west-1:1:key/k", "Tags": {"yor_trace": "t-1"}}]}


@settings(max_examples=150)
@given(entries=st.lists(JSON, max_size=5))
def test_asff_never_raises_and_maps_the_good_finding(entries):
    found, problems = asff.parse({"Findings": [*entries, GOOD]}, {})
    assert found[-1].rule_id == "CKV_AWS_7"
    mapped = [map_finding(f, None, SOURCES) for f in found]
    assert all(isinstance(m, (Finding, Refusal)) for m in mapped)
    assert (mapped[-1].file, mapped[-1].resource) == ("main.tf", "aws_kms_key.k")


@settings(max_examples=150)
@given(entries=st.lists(JSON, max_size=5))
def test_iacbot_entries_never_raise(tmp_path_factory, entries):
    good = {"rule_id": "CKV_AWS_7", "tags": {"yor_trace": "t-1"}}
    findings, runtime, problems = parse_iacbot({"findings": [*entries, good]}, Path(tmp_path_factory.getbasetemp()), "f.json")
    assert runtime[-1].tags == (("yor_trace", "t-1"),)
    assert all(isinstance(map_finding(r, None, SOURCES), (Finding, Refusal)) for r in runtime)


@settings(max_examples=150)
@given(raw=JSON, resources=st.lists(JSON, max_size=5))
def test_a_state_is_read_or_refused_with_a_state_error(raw, resources):
    for doc in (raw, {"values": {"root_module": {"resources": resources, "child_modules": [raw]}}}):
        try:
            state = parse_state(doc)
        except StateError:
            continue
        for f in asff.parse([GOOD], {})[0]:
            assert isinstance(map_finding(f, state, SOURCES), (Finding, Refusal))
