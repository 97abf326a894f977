"""The uploads of a run: photos of the test fixtures with options, invalid inputs, overwrites."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field

from PIL import Image

from bgremove import Options, output_format
from bgremove_local.chaos._config import BAD_OPTIONS, OPTION_SETS, ChaosConfig
from bgremove_local.runner import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "images"


@dataclass
class Upload:
    """One PutObject of the run and what its completion event must say."""

    index: int
    key: str
    job_id: str
    metadata: dict[str, str]
    data: bytes
    kind: str  # "image", "not-an-image", "empty", "bad-option"
    overwrites: int | None = None  # index of the upload of the same key it replaces
    identical: bool = False  # same bytes as the upload it replaces
    expected_code: str | None = None
    expected_option: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # canonical, as reports write them
    output_key: str | None = None
    content_type: str | None = None
    # known once uploaded
    bucket: str = ""
    etag: str = ""
    version_id: str | None = None
    sequencer: str = ""
    started: float = 0.0
    finished: float = 0.0
    event_id: str = ""

    def describe(self) -> str:
        what = self.kind if self.overwrites is None else f"{self.kind}, overwrites #{self.overwrites}"
        if self.identical:
            what += " with identical bytes"
        versioned = f", version {self.version_id}" if self.version_id else ", unversioned"
        options = json.dumps({k: v for k, v in self.metadata.items() if k != "job-id"}, sort_keys=True)
        return f"#{self.index} {self.key} ({what}{versioned}; job {self.job_id}; options {options})"


class Workload:
    """Draws the uploads: photos of the fixtures with options, invalid inputs, overwrites of recent keys."""

    def __init__(self, config: ChaosConfig, output_prefix: str) -> None:
        self._config = config
        self._rng = random.Random(f"{config.seed}/workload")
        self._prefix = output_prefix
        self._photos = []
        for path in sorted(FIXTURES.glob("*.jpg")):
            with Image.open(path) as image:
                photo = image.convert("RGB")
                photo.thumbnail((320, 320))
                self._photos.append(photo)
        if not self._photos:
            raise RuntimeError(f"no fixture photos in {FIXTURES}")
        self.uploads: list[Upload] = []
        self._latest: dict[str, Upload] = {}

    def next(self) -> Upload:
        rng, index = self._rng, len(self.uploads)
        job_id = f"chaos-{self._config.seed}-{index:05d}"
        recent = [u.key for u in self.uploads[-40:]]
        previous = None
        if recent and rng.random() < self._config.overwrite_rate:
            previous = self._latest[rng.choice(recent)]
        key = previous.key if previous else f"chaos/{index:05d}.jpg"
        if previous is not None and rng.random() < self._config.identical_share:
            others = [o for o in OPTION_SETS if o != _options_of(previous.metadata)] or list(OPTION_SETS)
            bytes_kind = "image" if previous.kind == "bad-option" else previous.kind
            upload = self._with(
                index, key, job_id, data=previous.data, options=rng.choice(others), kind=bytes_kind
            )
            upload.identical = True
        else:
            upload = self._fresh(index, key, job_id)
        upload.overwrites = previous.index if previous else None
        self.uploads.append(upload)
        self._latest[key] = upload
        return upload

    def _fresh(self, index: int, key: str, job_id: str) -> Upload:
        rng = self._rng
        if rng.random() >= self._config.invalid_rate:
            return self._with(
                index, key, job_id, data=self._photo(), options=rng.choice(OPTION_SETS), kind="image"
            )
        kind = rng.choice(("not-an-image", "empty", "bad-option"))
        if kind == "not-an-image":
            return self._with(
                index, key, job_id, data=f"chaos {job_id}: not an image\n".encode(), options={}, kind=kind
            )
        if kind == "empty":
            return self._with(index, key, job_id, data=b"", options={}, kind=kind)
        options, _ = rng.choice(BAD_OPTIONS)
        return self._with(index, key, job_id, data=self._photo(), options=options, kind="image")

    def _with(
        self, index: int, key: str, job_id: str, *, data: bytes, options: dict[str, str], kind: str
    ) -> Upload:
        """An upload of ``data``, whose ``kind`` is ``image``, ``not-an-image`` or ``empty``."""
        upload = Upload(index, key, job_id, {**options, "job-id": job_id}, data, kind)
        if kind == "not-an-image":
            upload.expected_code = "NOT_AN_IMAGE"
        elif kind == "empty":
            upload.expected_code = "EMPTY_INPUT"
        bad = next((option for bad_options, option in BAD_OPTIONS if options == bad_options), None)
        if bad is not None and kind == "image":
            upload.kind, upload.expected_code, upload.expected_option = "bad-option", "INVALID_OPTION", bad
        elif kind == "image":
            parsed = Options.parse(options, ignore_unknown=True)
            info = output_format(parsed)
            stem = key.rpartition(".")[0]
            upload.options = parsed.to_dict()
            upload.output_key = f"{self._prefix}{stem}.{info.extension}"
            upload.content_type = info.content_type
        return upload

    def _photo(self) -> bytes:
        rng = self._rng
        photo = rng.choice(self._photos)
        width, height = photo.size
        crop_w, crop_h = int(width * rng.uniform(0.6, 1)), int(height * rng.uniform(0.6, 1))
        left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
        image = photo.crop((left, top, left + crop_w, top + crop_h))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.thumbnail((rng.randint(64, 160),) * 2)
        buffer = io.BytesIO()
        if rng.random() < 0.2:
            image.save(buffer, "PNG")
        else:
            image.save(buffer, "JPEG", quality=rng.randint(70, 95))
        return buffer.getvalue()


def _options_of(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != "job-id"}
