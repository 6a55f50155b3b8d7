"""The `GetRulepack` action: which physical rules and SQL policy govern the caller."""

from __future__ import annotations

import json

from flightserver.actions import ActionContext, CustomAction
from flightserver.artifacts import registry
from flightserver.artifacts.model import RulepackRequest, RulepackResponse


def get_rulepack(context: ActionContext, body: bytes) -> list[bytes]:
    registry.decode_request(RulepackRequest, body)
    governing = context.governing
    identity = governing.plan_identity
    assert identity.rulepack is not None and identity.policy_sha256 is not None
    response = RulepackResponse(
        rulepack=identity.rulepack,
        rules=[rule.name for rule in governing.rulepack.rules()],
        config=json.loads(governing.rulepack.config_json),
        policy=governing.name,
        policy_sha256=identity.policy_sha256,
    )
    return [registry.encode(response)]


def actions() -> list[CustomAction]:
    return [
        CustomAction(
            "GetRulepack",
            "The physical rulepack (name, version, configuration hash, rules) and the SQL"
            " policy hash governing the caller. Body: RulepackRequest JSON (may be empty);"
            " result: RulepackResponse JSON.",
            get_rulepack,
        )
    ]
