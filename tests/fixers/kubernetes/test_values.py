"""Value choices of the assumed-value fixers and the flag table's list handling."""
from __future__ import annotations

from decimal import Decimal

import pytest

from fixers.kubernetes.base import AppendItem, SetValue
from fixers.kubernetes.control_plane_flags import ListFlag, SetFlag, command_edits
from fixers.kubernetes.resources import choose_value, parse_quantity
from fixers.locate.kubernetes import Container
from fixers.models import Unknown


@pytest.mark.parametrize("text, amount", [("100m", Decimal("0.1")), ("2", Decimal(2)), ("1Gi", Decimal(2**30)), ("0.5", Decimal("0.5"))])
def test_parse_quantity(text, amount):
    assert parse_quantity(text) == amount


def container(data: dict) -> Container:
    return Container(("spec", "containers", 0), "containers", "app", data)


def test_limit_never_below_existing_request_and_request_never_above_limit():
    assert choose_value(container({"resources": {"requests": {"cpu": "2"}}}), "limits", "cpu") == "2"
    assert choose_value(container({"resources": {"requests": {"cpu": "50m"}}}), "limits", "cpu") == "500m"
    assert choose_value(container({"resources": {"limits": {"memory": "64Mi"}}}), "requests", "memory") == "64Mi"
    assert isinstance(choose_value(container({"resources": {"limits": {"memory": "lots"}}}), "requests", "memory"), Unknown)


def test_flag_edits():
    c = container({"command": ["kube-apiserver", "--enable-admission-plugins=A", "--profiling=true"]})
    path = ("spec", "containers", 0, "command")
    assert command_edits(c, ListFlag("kube-apiserver", "--enable-admission-plugins", "B")) == [SetValue(path + (1,), "--enable-admission-plugins=A,B")]
    assert command_edits(c, SetFlag("kube-apiserver", "--profiling", "false")) == [SetValue(path + (2,), "--profiling=false")]
    assert command_edits(c, SetFlag("kube-apiserver", "--x", "1")) == [AppendItem(path, "--x=1")]
    assert command_edits(c, ListFlag("kube-apiserver", "--enable-admission-plugins", "A", remove=True)).reason
