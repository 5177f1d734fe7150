"""bot.dashboard (pure): which section each decision goes in, what a person wrote outside the
markers survives, outside values are quoted, and the body stays under GitHub's limit."""
from __future__ import annotations

from bot import dashboard as d
from bot.github.issues import BODY_LIMIT, units
from policies.decision import Because, Decision
from policies.reasons import Action, Reason

NOW = 1_764_662_400.0  # 2025-12-02 08:00 UTC


def entry(action: Action, pr: int | None = None, reasons=(), rule="r", at=1.0, path="k8s/web.yaml",
          rule_id="CKV_K8S_16") -> d.Entry:
    return d.Entry(f"{pr or 0:016x}", (rule_id,), "k8s.privileged", (path,),
                   Decision(action, tuple(reasons) or (Because(Reason.RULE_MATCHED, rule),), rule=rule), at, pr)


def test_each_decision_goes_in_its_section_and_closed_prs_drop_out():
    entries = [entry(Action.PULL_REQUEST, 1), entry(Action.AUTOMERGE, 2),
               entry(Action.PULL_REQUEST, 3, [Because(Reason.RULE_MATCHED, "auto"), Because(Reason.CATEGORY_NETWORK)]),
               entry(Action.RECOMMEND), entry(Action.IGNORE), entry(Action.PULL_REQUEST, 9)]
    groups = d.classify(entries, open_prs={1, 2, 3})
    assert [e.pr_number for e in groups["waiting"]] == [1]
    assert [e.pr_number for e in groups["automerging"]] == [2]
    assert [e.pr_number for e in groups["blocked"]] == [3]
    assert len(groups["recommended"]) == 1 and len(groups["ignored"]) == 1
    assert all(e.pr_number != 9 for g in groups.values() for e in g)  # PR 9 is closed


def sections(**over) -> d.Sections:
    return d.Sections(**over)


def test_a_persons_text_outside_the_markers_is_kept_and_iacbots_part_replaced():
    first = d.body(None, "octo/apps", sections(), NOW)
    assert first.startswith(d.START) and d.END in first
    edited = "My notes above.\n- [x] ticked by me\n\n" + first + "\nAnd below.\n"
    again = d.body(edited, "octo/apps", sections(waiting=(entry(Action.PULL_REQUEST, 4),)), NOW)
    assert again.startswith("My notes above.\n- [x] ticked by me\n\n" + d.START)
    assert again.endswith(d.END + "\n\nAnd below.\n")
    assert "Waiting for review (1)" in again and "#4 " in again


def test_broken_markers_keep_every_word_and_give_one_section():
    first = d.body(None, "octo/apps", sections(), NOW)
    no_end = "Person's words.\n" + first.replace(d.END, "") + "\nMore words."
    fixed = d.body(no_end, "octo/apps", sections(), NOW)
    assert fixed.count(d.START) == 1 and fixed.count(d.END) == 1
    assert "Person's words." in fixed and "More words." in fixed


def test_outside_values_are_quoted():
    hostile = entry(Action.PULL_REQUEST, 5, [Because(Reason.RULE_MATCHED, "@security-team <!-- x -->")],
                    path="k8s/@admin/<img src=x>.yaml", rule_id="CKV_#12")
    risk = d.AcceptedRisk("f" * 16, 7, "a.tf", closed_by="@everyone", closed_at=NOW, expires_at=NOW + 86400)
    text = d.render("octo/apps", sections(waiting=(hostile,), accepted=(risk,),
                                          policy_problems=(".github/iacbot.yml:1:1: --> @team",)), NOW)
    body = text.replace(d.START, "").replace(d.END, "").replace(d.marker(d.KIND), "")
    assert "@security-team" not in body and "@admin" not in body and "@everyone" not in body and "@team" not in body
    assert "<!--" not in body and "-->" not in body and "#12" not in body
    assert "`k8s/@\u2060admin/<img src=x>.yaml`" in body  # a code span: shown as written, never HTML
    assert "expires 2025-12-03 08:00 UTC" in text and "closed by" in text


def test_sections_are_capped_and_the_body_fits_githubs_limit():
    many = tuple(entry(Action.RECOMMEND, at=float(i), path="p/" + "x" * 150 + str(i)) for i in range(400))
    text = d.body(None, "octo/apps", sections(recommended=many), NOW)
    assert "Recommendations (no branch opened) (400)" in text and f"and {400 - d.MAX_PER_SECTION} more" in text
    # a person's long text leaves less room: iacbot's section shrinks, theirs is kept whole
    long_text = "w" * (BODY_LIMIT - 6_000)
    squeezed = d.body(long_text, "octo/apps", sections(recommended=many), NOW)
    assert squeezed.startswith(long_text) and units(squeezed) <= BODY_LIMIT
    assert d.body("w" * BODY_LIMIT, "octo/apps", sections(recommended=many), NOW) is None
