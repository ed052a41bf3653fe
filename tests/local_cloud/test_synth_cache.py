"""The cached synthesis (``local.synth.synthesize``) when several processes share an assembly directory.

``make test`` runs the suite in two pytest-xdist workers, and many test modules deploy the same assembly
(``.local/cdk.out-tests``); two ``local.cli up`` in one checkout do the same. The CDK app itself is replaced
here by a stand-in that takes a while and writes a manifest, so the test is about the cache, not the app.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local import synth


class SlowApp:
    """``subprocess.run`` of the CDK app: writes ``manifest.json`` into ``CDK_OUTDIR`` after a pause."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, command: Any, *, env: dict[str, str], **_: Any) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.3)
        (Path(env["CDK_OUTDIR"]) / "manifest.json").write_text(json.dumps({"version": "test"}))
        with self._lock:
            self.running -= 1
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> SlowApp:
    """The CDK app as :class:`SlowApp` for every synthesis of the test."""
    stand_in = SlowApp()
    monkeypatch.setattr(synth.subprocess, "run", stand_in)
    return stand_in


def test_synthesizers_of_one_directory_take_turns_and_the_later_ones_reuse_the_assembly(
    tmp_path: Path, app: SlowApp
) -> None:
    # Given four synthesizers of the same assembly directory starting at once
    out = tmp_path / "cdk.out-shared"
    # When each asks for it
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: synth.synthesize(out, {"gtpipe:test": 1}), range(4)))
    # Then the app ran once, never two at a time, and every caller got the finished assembly
    assert (app.calls, app.most_at_once) == (1, 1)
    assert results == [out.resolve()] * 4
    assert (out / "manifest.json").is_file() and (out / synth.STAMP_FILE).is_file()


def test_another_context_synthesizes_again_after_the_one_before(tmp_path: Path, app: SlowApp) -> None:
    # Given an assembly synthesized with one context
    out = tmp_path / "cdk.out-shared"
    synth.synthesize(out, {"gtpipe:test": 1})
    stamp = (out / synth.STAMP_FILE).read_text()
    # When it is asked for with another context, then with the same one again
    synth.synthesize(out, {"gtpipe:test": 2})
    synth.synthesize(out, {"gtpipe:test": 2})
    # Then the app ran once more for the new context, and the stamp is the new context's
    assert app.calls == 2
    assert (out / synth.STAMP_FILE).read_text() != stamp
