"""The benchmark's inputs: real photos at about 0.4, 2, 12 and 24 MP (JPEG) and a PNG with alpha.

- 0.4 MP: the DAVIS-2016 frame ``camel_00000.jpg`` (854x480), used as is.
- 12 MP: ``jpg/tests/42_IndexError.jpg`` from the exif-samples photos (4032x3024 camera JPEG), used as is.
- 2 MP: that 12 MP photo downscaled to 1632x1224 (Pillow LANCZOS), saved as JPEG quality 90.
- 24 MP: that 12 MP photo upscaled by sqrt(2) to 5702x4276 (Pillow LANCZOS), saved as JPEG quality 90.
  It is still under the engine's default ``max_pixels`` (``bgremove.limits.MAX_WORK_PIXELS``), so neither
  engine downscales it; ``build_inputs`` checks that every input is.
- PNG with alpha: the DAVIS frame ``dog_00000`` cut out with its human-made mask as the alpha channel
  (854x480 RGBA): a real cut-out that is sent back through the engines.

Generated files go to the git-ignored ``bench/results/raw/inputs/`` and are rebuilt only when missing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import EVAL, INPUTS_DIR, PHOTOS, require_shared

DAVIS = EVAL / "sets" / "davis2016_val"
TWELVE_MP = PHOTOS / "jpg" / "tests" / "42_IndexError.jpg"
SMALL_JPEG = DAVIS / "images" / "camel_00000.jpg"
ALPHA_SOURCE = "dog_00000"


@dataclass(frozen=True)
class BenchInput:
    id: str
    label: str
    path: Path
    width: int
    height: int
    source: str

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "megapixels": round(self.megapixels, 2)}


def _resized(source: Path, target: Path, scale: float) -> Path:
    from PIL import Image  # noqa: PLC0415

    if not target.exists():
        with Image.open(source) as image:
            image.load()
            size = (math.floor(image.width * scale), math.floor(image.height * scale))
            image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(target, "JPEG", quality=90)
    return target


def _cutout(name: str, target: Path) -> Path:
    from PIL import Image  # noqa: PLC0415

    if not target.exists():
        with (
            Image.open(DAVIS / "images" / f"{name}.jpg") as image,
            Image.open(DAVIS / "masks" / f"{name}.png") as mask,
        ):
            rgba = image.convert("RGB")
            rgba.putalpha(mask.convert("L"))
            rgba.save(target, "PNG")
    return target


def build_inputs() -> list[BenchInput] | None:
    """Make (once) and list the inputs, smallest first; ``None`` when the shared photos are absent."""
    if not require_shared(TWELVE_MP, SMALL_JPEG, DAVIS / "masks" / f"{ALPHA_SOURCE}.png"):
        return None
    from PIL import Image  # noqa: PLC0415

    INPUTS_DIR.mkdir(parents=True, exist_ok=True)
    specs = [
        ("0.4mp", "0.4 MP JPEG", SMALL_JPEG, "DAVIS-2016 camel_00000.jpg, unchanged"),
        (
            "2mp",
            "2 MP JPEG",
            _resized(TWELVE_MP, INPUTS_DIR / "2mp.jpg", 1632 / 4032),
            "42_IndexError.jpg downscaled x0.405 (LANCZOS), JPEG q90",
        ),
        ("12mp", "12 MP JPEG", TWELVE_MP, "exif-samples jpg/tests/42_IndexError.jpg, unchanged"),
        (
            "24mp",
            "24 MP JPEG",
            _resized(TWELVE_MP, INPUTS_DIR / "24mp.jpg", math.sqrt(2)),
            "42_IndexError.jpg upscaled x1.414 (LANCZOS), JPEG q90",
        ),
        (
            "png_alpha",
            "0.4 MP PNG+alpha",
            _cutout(ALPHA_SOURCE, INPUTS_DIR / "cutout.png"),
            f"DAVIS-2016 {ALPHA_SOURCE} cut out with its ground-truth mask as alpha, RGBA PNG",
        ),
    ]
    from bgremove.limits import MAX_WORK_PIXELS  # noqa: PLC0415

    inputs = []
    for input_id, label, path, source in specs:
        with Image.open(path) as image:
            inputs.append(BenchInput(input_id, label, path, image.width, image.height, source))
        if inputs[-1].width * inputs[-1].height > MAX_WORK_PIXELS:
            # the engine would downscale it and rembg would not: the two would no longer do the same work
            raise SystemExit(f"{path}: larger than the engine's MAX_WORK_PIXELS ({MAX_WORK_PIXELS:,})")
    return inputs


if __name__ == "__main__":
    for item in build_inputs() or []:
        print(
            f"{item.id:10} {item.width}x{item.height} {item.megapixels:5.1f} MP  {item.path}  ({item.source})"
        )
