"""Reading a CDK cloud assembly for the local deployment: ``manifest.json`` (stacks and the order their
dependencies give), each stack's template and asset manifest (so a Lambda ``Code.S3Key`` or a state machine
``DefinitionS3Location`` leads back to the staged asset in the assembly directory). What it cannot read
(nested assemblies, Docker image assets, a dependency cycle) fails with :class:`local.cfn.TemplateError`.
Intrinsics are resolved by :mod:`local.cfn`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .cfn import TemplateError

STACK_ARTIFACT: Final = "aws:cloudformation:stack"
ASSET_MANIFEST_ARTIFACT: Final = "cdk:asset-manifest"


@dataclass(frozen=True)
class FileAsset:
    """One file asset of a stack: where CDK staged it and the S3 object key it would be published under."""

    asset_hash: str
    source: Path
    packaging: str
    object_keys: tuple[str, ...]
    # The destinations' buckets as the manifest names them (``cdk-...-assets-${AWS::AccountId}-${AWS::Region}``).
    bucket_names: tuple[str, ...] = ()


@dataclass
class StackArtifact:
    """A stack of the assembly: its template and assets."""

    name: str
    template_path: Path
    template: dict[str, Any]
    dependencies: list[str]
    assets: dict[str, FileAsset] = field(default_factory=dict)

    def asset_for_object_key(self, key: str) -> FileAsset:
        """The staged asset that would be published as ``key`` (``<hash>.zip``, ``<hash>.json``)."""
        for asset in self.assets.values():
            if key in asset.object_keys:
                return asset
        raise TemplateError(
            f"{self.name}: no asset is published under the S3 key {key!r} "
            f"(assets: {', '.join(sorted(self.assets)) or 'none'}); was the assembly synthesized completely?"
        )


class CloudAssembly:
    """A ``cdk synth`` output directory (``manifest.json``, templates, asset manifests, staged assets)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.is_file():
            raise TemplateError(f"{manifest_path} not found: synthesize the app first (cdk synth)")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        artifacts: dict[str, Any] = self.manifest.get("artifacts", {})
        nested = [name for name, art in artifacts.items() if art.get("type") == "cdk:cloud-assembly"]
        if nested:
            raise TemplateError(f"nested cloud assemblies (CDK stages) are not supported locally: {nested}")
        self.stacks: dict[str, StackArtifact] = {}
        for name, artifact in artifacts.items():
            if artifact.get("type") != STACK_ARTIFACT:
                continue
            properties = artifact.get("properties", {})
            template_path = self.directory / properties["templateFile"]
            stack = StackArtifact(
                name=properties.get("stackName", name),
                template_path=template_path,
                template=json.loads(template_path.read_text()),
                dependencies=[d for d in artifact.get("dependencies", []) if d in artifacts],
            )
            for dependency in artifact.get("dependencies", []):
                dep_artifact = artifacts.get(dependency, {})
                if dep_artifact.get("type") == ASSET_MANIFEST_ARTIFACT:
                    stack.assets.update(self._read_assets(dep_artifact["properties"]["file"]))
            self.stacks[name] = stack
        # Keep only stack-to-stack dependencies (asset manifests are not deployed).
        for stack in self.stacks.values():
            stack.dependencies = [d for d in stack.dependencies if d in self.stacks]

    def _read_assets(self, file_name: str) -> dict[str, FileAsset]:
        data = json.loads((self.directory / file_name).read_text())
        assets: dict[str, FileAsset] = {}
        for asset_hash, entry in data.get("files", {}).items():
            source = entry.get("source", {})
            if "path" not in source:
                # Executable-built assets (source.executable) would need a build step.
                raise TemplateError(f"asset {asset_hash} has no staged path (source {source}); not supported")
            keys = tuple(dest["objectKey"] for dest in entry.get("destinations", {}).values())
            assets[asset_hash] = FileAsset(
                asset_hash=asset_hash,
                source=self.directory / source["path"],
                packaging=source.get("packaging", "file"),
                object_keys=keys,
                bucket_names=tuple(
                    dest["bucketName"]
                    for dest in entry.get("destinations", {}).values()
                    if "bucketName" in dest
                ),
            )
        if data.get("dockerImages"):
            raise TemplateError(f"{file_name}: Docker image assets are not supported by the local cloud")
        return assets

    def stacks_in_order(self) -> list[StackArtifact]:
        """Stacks ordered so that every stack follows the stacks it depends on (manifest order on ties)."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered:
                return
            if name in visiting:
                raise TemplateError(f"stack dependency cycle through {name}")
            visiting.add(name)
            for dependency in self.stacks[name].dependencies:
                visit(dependency)
            visiting.discard(name)
            ordered.append(name)

        for name in self.stacks:
            visit(name)
        return [self.stacks[name] for name in ordered]
