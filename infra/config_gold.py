"""``gtpipe:labeling.goldManifest`` and ``goldShare``: the builtin labeling service's gold objects
(docs/labeling-service.md, "Gold objects")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtpipe_shared.config import LabelingBackend
from gtpipe_shared.s3uri import S3UriError, parse_s3_uri

from infra.config_reader import PREFIX, ConfigError, parse_number


def gold_settings(raw: Mapping[str, Any], backend: LabelingBackend) -> dict[str, Any]:
    """``labeling.goldManifest`` (the ``s3://`` URI of an augmented manifest of known answers: the job's
    label attribute and classes, checked when a job opens) and ``labeling.goldShare`` (the share of a job's
    tasks that are gold, 0.01..0.5, default 0.1): the builtin service mixes gold objects into the queue and
    weights consolidation by each labeler's gold accuracy (gtpipe_shared.labeling_gold). Ground Truth has
    no gold objects, so it is the builtin backend's only."""
    uri, share = raw.get("goldManifest"), raw.get("goldShare")
    if uri is None:
        if share is not None:
            raise ConfigError(
                f"{PREFIX}labeling.goldShare needs {PREFIX}labeling.goldManifest (the known answers)"
            )
        return {}
    name = f"{PREFIX}labeling.goldManifest"
    if backend != "builtin":
        raise ConfigError(
            f"{name} is the builtin labeling service's (Ground Truth has no gold objects): remove it or use "
            "gtpipe:labelingBackend builtin"
        )
    try:
        parse_s3_uri(uri)
    except S3UriError as error:
        raise ConfigError(f"{name} must be the s3:// URI of a manifest: {error}") from None
    if str(uri).endswith("/"):
        raise ConfigError(f"{name} must name a manifest object, not a folder; got {uri!r}")
    gold_share = 0.1 if share is None else parse_number(share, f"{PREFIX}labeling.goldShare", 0.01, 0.5)
    return {"gold_manifest_uri": str(uri), "gold_share": gold_share}
