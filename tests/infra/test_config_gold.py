"""gtpipe:labeling.goldManifest / goldShare: validated at synth, granted as exactly one object."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config_reader import ConfigError
from tests.infra.conftest import synthesize
from tests.infra.test_config import BUILTIN, build
from tests.infra.test_security import role_statements

GOLD = "s3://gold-answers/known/digits.manifest"


def test_gold_is_off_unless_set_and_the_share_defaults_to_a_tenth() -> None:
    # Given the builtin backend without gold, with a gold manifest, and with a chosen share
    unset = build(**BUILTIN).labeling.model_dump()
    default = build(**BUILTIN, labeling={"goldManifest": GOLD}).labeling
    chosen = build(**BUILTIN, labeling={"goldManifest": GOLD, "goldShare": "0.2"}).labeling
    # Then without it the functions' config is as before; with it the URI and the share travel
    assert "gold_manifest_uri" not in unset and "gold_share" not in unset
    assert (default.gold_manifest_uri, default.gold_share) == (GOLD, 0.1)
    assert chosen.model_dump()["gold_share"] == 0.2


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"labeling": {"goldManifest": GOLD}}, "labeling.goldManifest is the builtin labeling service's"),
        (
            {**BUILTIN, "labeling": {"goldShare": 0.1}},
            "labeling.goldShare needs gtpipe:labeling.goldManifest",
        ),
        ({**BUILTIN, "labeling": {"goldManifest": "gold.manifest"}}, "must be the s3:// URI of a manifest"),
        ({**BUILTIN, "labeling": {"goldManifest": "s3://gold-answers/known/"}}, "not a folder"),
        (
            {**BUILTIN, "labeling": {"goldManifest": GOLD, "goldShare": 0.9}},
            "gtpipe:labeling.goldShare must be between 0.01 and 0.5",
        ),
    ],
)
def test_invalid_gold_settings_name_the_key(context: dict[str, Any], message: str) -> None:
    # Given a gold setting AWS or the service cannot use; when the config is read; then it names the key
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(**context)


def test_the_labeling_function_may_read_the_gold_manifest_and_nothing_more() -> None:
    # Given the builtin backend with a gold manifest in another bucket
    synth = synthesize(labelingBackend="builtin", labeling={"goldManifest": GOLD})
    # When the labeling function's role is read
    statements = role_statements(synth, "LabelingLabelingFunctionRole")
    gold = [s for s in statements if s.get("Sid") == "ReadGoldManifest"]
    # Then one statement grants s3:GetObject on exactly that object
    assert len(gold) == 1
    assert gold[0]["Action"] == "s3:GetObject"
    assert "gold-answers/known/digits.manifest" in json.dumps(gold[0]["Resource"])
    assert "*" not in json.dumps(gold[0]["Resource"])
