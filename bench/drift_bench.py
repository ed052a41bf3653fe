"""Benchmark: what drift monitoring costs predict per request, and what one window costs the monitor.

    .venv/bin/python -m bench.drift_bench [--repeat 50] [--window 2000]

Per request (predict/drift_record.py): :func:`gtpipe_shared.drift_image.image_features` on a 32x32 PNG
digit (the demo's images), a 640x480 and a 2048x1536 JPEG (photographs' sizes, seeded noise over a
gradient), side by side with what predict does anyway for an image (decode it with Pillow: ``load()``),
median milliseconds over ``--repeat`` runs. Per window (lambdas/monitor, the statistics only, no I/O):
:func:`gtpipe_shared.drift_monitor.evaluate_window` over ``--window`` request records against a baseline of
500 images. The S3 PUT of each record (about 1 KB) is not measured here: on AWS it is one request's latency
(tens of milliseconds) and $0.005 per 1,000.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gtpipe_shared.config import MonitoringConfig
from gtpipe_shared.drift import Features, WindowRecord, build_baseline
from gtpipe_shared.drift_image import image_features
from gtpipe_shared.drift_monitor import evaluate_window
from PIL import Image

from bench import print_figures
from tests.monitoring.streams import digit_images, png


def jpeg(width: int, height: int, seed: int) -> bytes:
    """A seeded noisy gradient as a JPEG (quality 90)."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    Image.blend(image, noise, 0.3).save(out, format="JPEG", quality=90)
    return out.getvalue()


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()


def main(repeat: int = 50, window: int = 2000) -> dict[str, object]:
    figures: dict[str, object] = {}
    images = {
        "32x32 PNG digit": png(next(digit_images(0, 1))[1]),
        "640x480 JPEG": jpeg(640, 480, 1),
        "2048x1536 JPEG": jpeg(2048, 1536, 2),
    }
    for name, data in images.items():
        featured = median_ms(lambda data=data: image_features(data), repeat)  # type: ignore[misc]
        decoded = median_ms(lambda data=data: decode(data), repeat)  # type: ignore[misc]
        figures[f"{name}: features / full decode (ms, median of {repeat})"] = (
            f"{featured:.2f} / {decoded:.2f}"
        )
    rng = random.Random(7)

    def features() -> Features:
        stats = {"size": 32.0, "brightness": rng.gauss(0.3, 0.03), "contrast": rng.gauss(0.33, 0.02)}
        return Features({**stats, "blur": rng.gauss(0.026, 0.001)}, [rng.random() for _ in range(64)])

    baseline = build_baseline(
        run_id="bench",
        class_names=[str(d) for d in range(10)],
        features=[features() for _ in range(500)],
        predictions=[(rng.randrange(10), rng.random()) for _ in range(500)],
    )
    records = [WindowRecord(features(), rng.randrange(10), rng.random()) for _ in range(window)]
    end = datetime(2026, 1, 15, 10, tzinfo=UTC)
    started = time.perf_counter()
    evaluate_window(
        baseline=baseline,
        records=records,
        feedback=[],
        config=MonitoringConfig(),
        start=end - timedelta(hours=1),
        end=end,
    )
    figures[f"window of {window} records: statistics (ms)"] = f"{(time.perf_counter() - started) * 1000:.1f}"
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--window", type=int, default=2000)
    arguments = parser.parse_args()
    print_figures(main(arguments.repeat, arguments.window))
