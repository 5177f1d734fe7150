"""The shape shared by every Kubernetes fixer: locate the workload, plan edits, splice them.

A fixer supplies only a plan: a pure function from the located workload (plain data) to a list
of edits and a summary, or Unknown. This module applies the edits one at a time, each checked by
re-parsing, and turns the result into Patched, NoChange or Unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from fixers.edit.yaml import YamlEditError, append_item, remove_item, set_value
from fixers.locate.kubernetes import Container, Workload, locate_workload
from fixers.models import (
    Category,
    Confidence,
    Finding,
    FixContext,
    FixerInfo,
    FunctionFixer,
    Impact,
    NoChange,
    Outcome,
    Patched,
    Risk,
    Unknown,
)


@dataclass(frozen=True)
class SetValue:
    path: tuple
    value: bool | int | str


@dataclass(frozen=True)
class AppendItem:
    path: tuple
    value: str


@dataclass(frozen=True)
class RemoveItem:
    path: tuple
    value: str


Edit = Union[SetValue, AppendItem, RemoveItem]


@dataclass(frozen=True)
class Plan:
    edits: tuple[Edit, ...]
    summary: str


Planner = Callable[[Workload, Finding], Union[Plan, Unknown]]


def workload_fixer(
    fixer_id: str,
    rule_ids: tuple[str, ...],
    plan: Planner,
    description: str,
    category: Category = Category.HARDENING,
    risk: Risk = Risk.LOW,
    confidence: Confidence = Confidence.SAFE_DEFAULT,
    impact: frozenset[Impact] = frozenset(),
) -> FunctionFixer:
    info = FixerInfo(fixer_id, rule_ids, category, risk, confidence, description, impact)

    def fix(source: str, finding: Finding, ctx: FixContext) -> Outcome:
        try:
            return _fix(source, finding, plan)
        except YamlEditError as exc:
            return Unknown(str(exc))
        except Exception as exc:  # a fixer must never raise on odd input; say what happened
            return Unknown(f"{fixer_id} could not handle this manifest ({type(exc).__name__}: {exc})")

    return FunctionFixer(info, fix)


def _fix(source: str, finding: Finding, plan: Planner) -> Outcome:
    workload = locate_workload(source, finding)
    if isinstance(workload, Unknown):
        return workload
    planned = plan(workload, finding)
    if isinstance(planned, Unknown):
        return planned
    if not planned.edits:
        return NoChange(f"{workload.kind} {workload.name!r} already satisfies {finding.rule_id}")
    text = source
    for edit in planned.edits:
        text = apply_edit(text, workload.doc_index, edit)
    if text == source:
        return NoChange(f"{workload.kind} {workload.name!r} already satisfies {finding.rule_id}")
    return Patched(text, planned.summary, workload.location)


def apply_edit(text: str, doc_index: int, edit: Edit) -> str:
    if isinstance(edit, SetValue):
        return set_value(text, doc_index, edit.path, edit.value)
    if isinstance(edit, AppendItem):
        return append_item(text, doc_index, edit.path, edit.value)
    return remove_item(text, doc_index, edit.path, edit.value)


# ---------------------------------------------------------------- small helpers for plans


def security_context(container_or_spec: dict) -> dict:
    value = container_or_spec.get("securityContext")
    return value if isinstance(value, dict) else {}


def names(containers: list[Container]) -> str:
    return ", ".join(c.name for c in containers)


def per_container_plan(
    lists: tuple[str, ...],
    violates: Callable[[Container, Finding], bool],
    edits_for: Callable[[Container, Finding], Union[list[Edit], Unknown]],
    describe: str,
) -> Planner:
    """Fix every violating container of the chosen lists in one patch."""

    def plan(workload: Workload, finding: Finding) -> Plan | Unknown:
        failing = [c for c in workload.containers_in(lists) if violates(c, finding)]
        edits: list[Edit] = []
        for container in failing:
            planned = edits_for(container, finding)
            if isinstance(planned, Unknown):
                return planned
            edits.extend(planned)
        noun = "container" if len(failing) == 1 else "containers"
        return Plan(tuple(edits), f"{describe} on {noun} {names(failing)} of {workload.kind} {workload.name}")

    return plan
