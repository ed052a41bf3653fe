"""Tripwires for the moto internals local.sfn patches (see local/sfn/moto_patches.py)."""

from __future__ import annotations

import moto
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import Resource
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (
    StateTaskServiceUnsupported,
)
from moto.stepfunctions.parser.asl.parse import preprocessor
from moto.stepfunctions.responses import StepFunctionResponse

from local.sagemaker import LocalSageMaker, ScriptedJobRunner
from local.sfn import (
    MOTO_VERSION,
    LambdaRegistry,
    MotoInternalsChanged,
    check_moto_compatibility,
    install,
    is_installed,
    moto_patches,
    uninstall,
)


def test_moto_is_the_version_the_patches_were_written_against() -> None:
    # A different moto needs a review of local/sfn/moto_patches.py before bumping the pin.
    assert moto.__version__ == MOTO_VERSION


def test_patched_and_overridden_internals_still_exist() -> None:
    check_moto_compatibility()


def test_a_missing_internal_is_reported_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(lambda_eval_utils, "_invoke_lambda_function")
    with pytest.raises(MotoInternalsChanged, match="_invoke_lambda_function is missing"):
        check_moto_compatibility()
    with pytest.raises(MotoInternalsChanged):
        install()
    assert not is_installed()


def test_without_local_sfn_moto_forwards_sagemaker_tasks_to_its_own_mock() -> None:
    # This is why the factory is patched: moto's own class for sagemaker:* has no .sync support.
    resource = Resource.from_resource_arn("arn:aws:states:::sagemaker:createTrainingJob.sync")
    assert isinstance(preprocessor.state_task_for(resource), StateTaskServiceUnsupported)


def test_install_swaps_exactly_the_patch_points_and_uninstall_restores_them() -> None:
    originals = (
        preprocessor.state_task_for,
        lambda_eval_utils._invoke_lambda_function,
        retrier_decl.time,
        StepFunctionResponse.send_task_failure,
    )
    with install(
        LambdaRegistry(), LocalSageMaker(runner=ScriptedJobRunner()), retry_interval_scale=0.5
    ) as handle:
        assert is_installed()
        assert moto_patches.active_handle() is handle
        assert preprocessor.state_task_for is moto_patches._state_task_for
        assert lambda_eval_utils._invoke_lambda_function is moto_patches._invoke_lambda_function
        assert retrier_decl.time is not originals[2]
        assert StepFunctionResponse.send_task_failure is moto_patches._send_task_failure
        with pytest.raises(RuntimeError, match="already installed"):
            install()
    assert not is_installed()
    assert (
        preprocessor.state_task_for,
        lambda_eval_utils._invoke_lambda_function,
        retrier_decl.time,
        StepFunctionResponse.send_task_failure,
    ) == originals
    uninstall()  # idempotent


def test_retry_interval_scale_of_one_leaves_retry_sleeps_alone() -> None:
    original = retrier_decl.time
    with install():
        assert retrier_decl.time is original
