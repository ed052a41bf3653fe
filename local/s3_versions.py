"""Seeded S3 version ids, so a local run can be repeated exactly.

moto gives every version of an object in a versioned bucket a random UUID. gtpipe derives the run id
from the dropped manifest's version id, and the run id seeds the split and names the jobs whose seeds
drive the simulated labelers: with random version ids, the same test sees different data on every
run and machine. With a seed, the n-th version of ``bucket/key`` gets the id
``sha256("<seed>/<bucket>/<key>/<n>")[:32]`` whatever else happens concurrently in the cloud (a global
seed of moto's random source would not survive thread interleaving). Real S3 version ids are opaque
strings (https://docs.aws.amazon.com/AmazonS3/latest/userguide/versioning-workflows.html), so nothing
may depend on their form.

**Patch point** (installed by :func:`seed_version_ids`, restored by the returned callable):
``moto.s3.models.FakeKey.__init__``; its ``version_id`` argument is replaced for versioned keys.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from moto.s3.models import FakeKey

from local.moto_compat import MotoInternalsChanged

_LOCK = threading.Lock()
_ORIGINAL: dict[str, Callable[..., Any]] = {}


def version_id(seed: int, bucket: str, key: str, number: int) -> str:
    """The seeded id of version ``number`` (0 first) of ``bucket/key``."""
    return hashlib.sha256(f"{seed}/{bucket}/{key}/{number}".encode()).hexdigest()[:32]


def seed_version_ids(seed: int) -> Callable[[], None]:
    """Give versioned S3 objects seeded version ids (see the module docstring); returns the undo."""
    original = FakeKey.__init__
    if "version_id" not in original.__code__.co_varnames:
        raise MotoInternalsChanged("local.s3_versions: moto's FakeKey.__init__ takes no version_id")
    versions: Counter[tuple[str, str]] = Counter()
    with _LOCK:
        if "init" in _ORIGINAL:
            raise RuntimeError("local.s3_versions is already installed")
        _ORIGINAL["init"] = original

        def init(self: FakeKey, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if self._is_versioned and self._version_id not in (None, "null"):
                with _LOCK:
                    place = (str(self.bucket_name), str(self.name))
                    number = versions[place]
                    versions[place] += 1
                self._version_id = version_id(seed, *place, number)

        FakeKey.__init__ = init  # type: ignore[method-assign]

    def restore() -> None:
        with _LOCK:
            if "init" in _ORIGINAL:
                FakeKey.__init__ = _ORIGINAL.pop("init")  # type: ignore[method-assign]

    return restore
