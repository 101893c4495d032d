"""Approval policy: plain code, safe defaults, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflow.approval.policy import ApprovalPolicy, PolicyError, load_policy

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def request(env="production", requester="U1", votes=(), expires=NOW + timedelta(hours=1)):
    return {
        "environment": env,
        "requester": requester,
        "votes": list(votes),
        "expires_at": expires.isoformat(),
    }


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text(
        "environments:\n"
        "  prod:\n"
        "    approvers: {users: [U2, U3], groups: [S9]}\n"
        "    min_approvals: 2\n"
        "  staging:\n"
        "    approvers: {users: [U1, U2]}\n"
    )
    return load_policy(path)


@pytest.mark.parametrize(
    ("action", "env", "tags", "required"),
    [
        ("deploy", "production", [], True),
        ("scale", "production", [], True),
        ("status", "production", [], False),
        ("deploy", "staging", [], False),
        ("delete", "staging", [], True),
        ("destroy", "dev", [], True),
        ("scale", "dev", ["scale_to_zero"], True),
        ("restart", None, [], False),
    ],
)
def test_builtin_needs_approval(action, env, tags, required):
    assert ApprovalPolicy.builtin().needs_approval(action, env, tags).required is required


def test_builtin_production_has_no_approvers_and_refuses_everyone():
    verdict = ApprovalPolicy.builtin().may_vote("U2", request(), decision="approve", now=NOW)
    assert not verdict.allowed
    assert "production has no approvers configured" in verdict.reason


def test_file_keeps_production_safe_defaults(policy):
    prod = policy.for_environment("prd")
    assert prod.require_approval == "writes"
    assert prod.allow_self_approval is False
    assert prod.min_approvals == 2
    assert policy.for_environment("stg").allow_self_approval is True


def test_self_approval_refused_in_production(policy):
    verdict = policy.may_vote("U2", request(requester="U2"), decision="approve", now=NOW)
    assert not verdict.allowed and "self-approval is not allowed" in verdict.reason


def test_self_approval_allowed_where_policy_allows(policy):
    verdict = policy.may_vote("U1", request("staging"), decision="approve", now=NOW)
    assert verdict.allowed


def test_non_approver_refused_and_group_member_accepted(policy):
    refused = policy.may_vote("U7", request(), decision="approve", now=NOW)
    assert not refused.allowed and "U7 is not an approver for production" in refused.reason
    accepted = policy.may_vote(
        "U7", request(), decision="approve", user_groups=frozenset({"S9"}), now=NOW
    )
    assert accepted.allowed


def test_second_vote_by_same_user_refused(policy):
    votes = [{"user": "U2", "decision": "approve"}]
    verdict = policy.may_vote("U2", request(votes=votes), decision="approve", now=NOW)
    assert not verdict.allowed and "already voted" in verdict.reason


def test_expired_request_refused(policy):
    verdict = policy.may_vote(
        "U2", request(expires=NOW - timedelta(seconds=1)), decision="approve", now=NOW
    )
    assert not verdict.allowed and "expired" in verdict.reason


def test_requester_may_withdraw(policy):
    assert policy.may_vote("U1", request(), decision="reject", now=NOW).allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("environments: [", "not valid YAML"),
        ("- a\n- b\n", "mapping at the top level"),
        ("environments:\n  moon: {}\n", "unknown environment 'moon'"),
        ("environments:\n  prod: {min_approvals: 0}\n", "min_approvals"),
        ("environments:\n  prod: {require_approval: sometimes}\n", "require_approval"),
    ],
)
def test_bad_policy_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as err:
        load_policy(path)
    assert str(path) in str(err.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yml")


# -- actions that wait for a click (`actions:`) --------------------------------------------


def confirm_request(requester="U1", votes=()):
    return {**request(env=None, requester=requester, votes=votes), "confirm": True}


def test_shared_config_actions_wait_for_the_requesters_click_by_default(monkeypatch):
    from workflow.approval import policy as module

    monkeypatch.setattr(module, "WRITE_ACTIONS", module.WRITE_ACTIONS | {"create_pipeline"})
    policy = ApprovalPolicy.builtin()
    need = policy.needs_approval("create_pipeline", None)
    assert need.required and need.confirm, need
    verdict = policy.may_vote("U1", confirm_request(), decision="approve", now=NOW)
    assert verdict.allowed, verdict
    assert policy.closes(confirm_request(), {"user": "U1", "decision": "approve"})
    # someone else who is no approver may not confirm for the requester
    other = policy.may_vote("U7", confirm_request(), decision="approve", now=NOW)
    assert not other.allowed and "no approvers" in other.reason


def test_production_keeps_its_approval_for_a_confirm_action(monkeypatch):
    from workflow.approval import policy as module

    monkeypatch.setattr(module, "WRITE_ACTIONS", module.WRITE_ACTIONS | {"update_pipeline"})
    need = ApprovalPolicy.builtin().needs_approval("update_pipeline", "production")
    assert need.required and not need.confirm, need


def test_a_file_can_make_a_confirm_action_need_approval(tmp_path, monkeypatch):
    from workflow.approval import policy as module

    monkeypatch.setattr(
        module, "WRITE_ACTIONS", module.WRITE_ACTIONS | {"create_repository", "open_pull_request"}
    )
    path = tmp_path / "policy.yml"
    path.write_text("actions:\n  create_repository: {require_approval: approval}\n")
    policy = load_policy(path)
    need = policy.needs_approval("create_repository", None)
    assert need.required and not need.confirm
    assert "actions.create_repository" in need.reasons[-1]
    # the others keep their default
    assert policy.needs_approval("open_pull_request", None).confirm


def test_an_unknown_action_rule_is_refused(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text("actions:\n  create_pipeline: {require_approval: sometimes}\n")
    with pytest.raises(PolicyError, match=r"actions\.create_pipeline\.require_approval"):
        load_policy(path)
