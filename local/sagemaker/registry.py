"""The model registry of the local SageMaker (a part of ``LocalSageMaker``): model package groups and
versioned model packages, with the approval status changes SageMaker announces on EventBridge.

As on AWS (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html):

- a package in a group gets the group's next version, ARN ``model-package/<group>/<version>`` (lower case);
- ``ClientToken`` makes CreateModelPackage idempotent: the same token returns the same package;
- a group that does not exist, or exists already on create, is a ValidationException naming it;
- every create, and every update that changes ``ModelApprovalStatus``, emits a "SageMaker Model Package
  State Change" event whose detail is DescribeModelPackage's response
  (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from .api import Request, Response
from .backend import SageMakerBackend
from .errors import validation_error
from .events import MODEL_PACKAGE_STATE_CHANGE, event_detail
from .jobs import utcnow

UPDATABLE: Final = ("ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties")


class ModelRegistryApi(SageMakerBackend):
    """Create/Describe model package groups; Create/Describe/Update/List model packages."""

    def _registry(self) -> tuple[dict[str, Response], dict[str, Response], dict[str, str]]:
        # Groups by name, packages by lower-case ARN, ClientToken -> package ARN (created on first use, so
        # the backend's constructor stays the jobs' and endpoints').
        if not hasattr(self, "_package_groups"):
            self._package_groups: dict[str, Response] = {}
            self._packages: dict[str, Response] = {}
            self._package_tokens: dict[str, str] = {}
        return self._package_groups, self._packages, self._package_tokens

    def _require_group(self, name: str) -> Response:
        groups, _, _ = self._registry()
        group = groups.get(name)
        if group is None:
            raise validation_error(
                f"ModelPackageGroup {self._arn('model-package-group', name)} does not exist."
            )
        return group

    def create_model_package_group(self, request: Request) -> Response:
        """CreateModelPackageGroup."""
        with self._lock:
            request = self._begin("CreateModelPackageGroup", request)
            name = request["ModelPackageGroupName"]
            groups, _, _ = self._registry()
            arn = self._arn("model-package-group", name)
            if name in groups:
                raise validation_error(f"Model Package Group already exists: {arn}")
            groups[name] = {
                **self._echo("DescribeModelPackageGroup", request),
                "ModelPackageGroupArn": arn,
                "CreationTime": utcnow(),
                "ModelPackageGroupStatus": "Completed",
                "CreatedBy": {},
            }
            self._store_tags(arn, request.get("Tags"))
            return {"ModelPackageGroupArn": arn}

    def describe_model_package_group(self, request: Request) -> Response:
        """DescribeModelPackageGroup."""
        with self._lock:
            request = self._begin("DescribeModelPackageGroup", request)
            return copy.deepcopy(self._require_group(request["ModelPackageGroupName"]))

    def create_model_package(self, request: Request) -> Response:
        """CreateModelPackage of a versioned package (the only kind gtpipe creates)."""
        with self._lock:
            request = self._begin("CreateModelPackage", request)
            group_name = request.get("ModelPackageGroupName")
            if not group_name:
                raise validation_error(
                    "The local SageMaker registers versioned packages only: ModelPackageGroupName"
                )
            self._require_group(group_name)
            _, packages, tokens = self._registry()
            token = request.get("ClientToken")
            if token and token in tokens:
                return {"ModelPackageArn": tokens[token]}
            version = 1 + sum(1 for p in packages.values() if p["ModelPackageGroupName"] == group_name)
            arn = f"{self._arn('model-package', group_name)}/{version}"
            now = utcnow()
            package = {
                **self._echo("DescribeModelPackage", request),
                "ModelPackageName": group_name,
                "ModelPackageVersion": version,
                "ModelPackageArn": arn,
                "CreationTime": now,
                "LastModifiedTime": now,
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                "ModelApprovalStatus": request.get("ModelApprovalStatus", "PendingManualApproval"),
            }
            packages[arn] = package
            if token:
                tokens[token] = arn
            self._store_tags(arn, request.get("Tags"))
            self._emit_package(package)
            return {"ModelPackageArn": arn}

    def _require_package(self, name: str) -> Response:
        _, packages, _ = self._registry()
        package = packages.get(name.lower())
        if package is None:
            raise validation_error(f"ModelPackage {name} does not exist.")
        return package

    def describe_model_package(self, request: Request) -> Response:
        """DescribeModelPackage by ARN."""
        with self._lock:
            request = self._begin("DescribeModelPackage", request)
            return copy.deepcopy(self._require_package(request["ModelPackageName"]))

    def update_model_package(self, request: Request) -> Response:
        """UpdateModelPackage: approval status and its description, metadata; an approval change is announced."""
        with self._lock:
            request = self._begin("UpdateModelPackage", request)
            package = self._require_package(request["ModelPackageArn"])
            before = package.get("ModelApprovalStatus")
            for key in UPDATABLE:
                if key in request:
                    package[key] = copy.deepcopy(request[key])
            package["LastModifiedTime"] = utcnow()
            if package.get("ModelApprovalStatus") != before:
                self._emit_package(package)
            return {"ModelPackageArn": package["ModelPackageArn"]}

    def list_model_packages(self, request: Request) -> Response:
        """ListModelPackages of one group (newest first), summaries only."""
        with self._lock:
            request = self._begin("ListModelPackages", request)
            group = request.get("ModelPackageGroupName")
            _, packages, _ = self._registry()
            summaries = [
                {
                    key: copy.deepcopy(package[key])
                    for key in (
                        "ModelPackageName",
                        "ModelPackageGroupName",
                        "ModelPackageVersion",
                        "ModelPackageArn",
                        "ModelPackageDescription",
                        "CreationTime",
                        "ModelPackageStatus",
                        "ModelApprovalStatus",
                    )
                    if key in package
                }
                for package in packages.values()
                if group is None or package.get("ModelPackageGroupName") == group
            ]
            summaries.sort(key=lambda summary: summary["CreationTime"], reverse=True)
            return {"ModelPackageSummaryList": summaries}

    def _emit_package(self, package: Response) -> None:
        detail: dict[str, Any] = event_detail(package, self._tags.get(package["ModelPackageArn"]))
        self._enqueue_event(MODEL_PACKAGE_STATE_CHANGE, detail, [package["ModelPackageArn"]])
