"""A stand-in training module for fast orchestration tests (``python -m tests.local_sagemaker.fake_algorithm``).

It checks the SageMaker script-mode contract the local SageMaker provides (SM_HPS, SM_CHANNELS,
SM_CHANNEL_<NAME>, SM_MODEL_DIR) and writes what it saw to ``model.json``, without importing torch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    hyperparameters = json.loads(os.environ["SM_HPS"])
    channels = json.loads(os.environ["SM_CHANNELS"])
    seen = {
        name: {
            "manifests": sorted(
                p.name for p in Path(os.environ[f"SM_CHANNEL_{name.upper()}"]).glob("*.manifest")
            ),
            "images": len(list(Path(os.environ[f"SM_CHANNEL_{name.upper()}"]).rglob("*.png"))),
        }
        for name in channels
    }
    model_dir = Path(os.environ["SM_MODEL_DIR"])
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps({"hyperparameters": hyperparameters, "channels": seen}))
    print("Epoch[0] Train-accuracy=0.500000")
    print("Epoch[0] Validation-accuracy=0.250000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
