"""The engine: image bytes + options in, result bytes + report out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from bgremove import _compose, _encode, _foreground, _geometry, _matte
from bgremove._decode import DecodedImage, decode
from bgremove.delta import make_delta
from bgremove.exceptions import (
    BgRemoveError,
    InputError,
    InvalidOptionError,
    ModelNotFoundError,
    ProcessingError,
)
from bgremove.limits import MAX_BACKGROUND_PIXELS, MAX_WORK_PIXELS
from bgremove.models import (
    ModelFetcher,
    ModelRegistry,
    ModelSpec,
    Segmenter,
    SegmenterRegistry,
    SessionConfig,
    run_inference,
)
from bgremove.options import BackgroundType, Options, OutputFormat
from bgremove.report import FOREGROUND_ALPHA_LEVEL, BBox, Report
from bgremove.settings import EngineSettings, Env

_FOREGROUND_LUT = [0 if v < FOREGROUND_ALPHA_LEVEL else 255 for v in range(256)]


@dataclass(frozen=True)
class Result:
    """One processed image.

    Attributes
    ----------
    data
        The encoded result.
    content_type, extension
        MIME type and file extension (without dot) of ``data``.
    report
        Sizes, orientation, foreground boxes, model and timings.
    """

    data: bytes
    content_type: str
    extension: str
    report: Report

    @property
    def width(self) -> int:
        return self.report.result_size[0]

    @property
    def height(self) -> int:
        return self.report.result_size[1]


@dataclass(frozen=True)
class OutputFormatInfo:
    format: OutputFormat
    extension: str
    content_type: str


def output_format(options: Options) -> OutputFormatInfo:
    """The format a request will produce, known before any pixel is decoded (``auto`` resolved).

    It depends on the options only, so callers can name the output file up front. ``auto`` is PNG when
    the result has transparency, for ``map``, and when ``target_size`` is wider or taller than JPEG can
    hold (:data:`~bgremove.limits.MAX_JPEG_SIDE`); JPEG otherwise. An opaque ``auto`` result that outgrows
    JPEG through the input's own size (a panorama, wide margins) cannot switch to PNG without renaming the
    output after the fact, so :meth:`Engine.process` refuses it as ``INVALID_OPTION`` (option ``format``).
    """
    transparent = options.is_delta or _compose.has_transparency(options)
    fmt = _encode.resolve_format(
        options.format,
        transparent=transparent,
        mask=options.background_type is BackgroundType.MAP,
        target_size=None if options.is_delta else options.target_size,
    )
    return OutputFormatInfo(fmt, _encode.EXTENSIONS[fmt], _encode.CONTENT_TYPES[fmt])


def _check_result_fits(fmt: OutputFormat, size: tuple[int, int], options: Options) -> None:
    """Refuse a ``size`` result that ``fmt`` cannot hold, naming the option to change.

    With ``target_size`` set the result is exactly that size, so ``target_size`` is named; otherwise the
    input's size (and margins) made it that large and ``format`` is named: PNG holds any result.

    Raises
    ------
    InvalidOptionError
        ``fmt`` holds at most :data:`bgremove._encode.MAX_SIDES` pixels a side.
    """
    if _encode.fits(fmt, size):
        return
    limit = _encode.MAX_SIDES[fmt]
    width, height = size
    if options.target_size is not None:
        raise InvalidOptionError(
            "target_size",
            f"{fmt.value} holds at most {limit:,} px a side; the result would be {width}x{height}; "
            "use png or a smaller target_size",
        )
    chosen = " (auto picks jpeg for an opaque result)" if options.format is OutputFormat.AUTO else ""
    raise InvalidOptionError(
        "format",
        f"{fmt.value}{chosen} holds at most {limit:,} px a side; the result would be {width}x{height}; "
        "use png, or make the result smaller (max_pixels, target_size, margin)",
    )


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - began) * 1000

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": (time.perf_counter() - self._start) * 1000}


class Engine:
    """Removes backgrounds. Create one per process and reuse it: models load once, on first use.

    Parameters
    ----------
    settings
        Defaults to :meth:`EngineSettings.from_env`.
    fetcher
        Downloads ``s3://`` models (the AWS adapter passes one; the engine itself never talks to AWS).
        Used only when ``registry`` is omitted.
    registry
        Any :class:`SegmenterRegistry` (a remote one, a test fake); when omitted, a local ONNX Runtime
        :class:`ModelRegistry` built from ``settings``. ``settings.custom_models`` are registered into it.

    Notes
    -----
    Model names resolve in one place, :meth:`resolve_model`, with one rule: a model a *request* names that
    this deployment cannot serve is the request's fault (``INVALID_OPTION``), while a default model
    (``BGREMOVE_DEFAULT_MODEL``) that is unknown or missing is the deployment's (``MODEL_NOT_FOUND``).

    Examples
    --------
    >>> engine = Engine()
    >>> options = Options.parse({"background_color": "#ffffff"})
    >>> result = engine.process(open("photo.jpg", "rb").read(), options)
    >>> result.report.result_foreground
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        fetcher: ModelFetcher | None = None,
        registry: SegmenterRegistry | None = None,
    ) -> None:
        self.settings = settings or EngineSettings.from_env()
        if registry is None:
            registry = ModelRegistry(
                self.settings.model_dirs,
                SessionConfig(intra_op_threads=self.settings.threads),
                fetcher=fetcher,
                cache_dir=self.settings.model_cache_dir,
            )
        for spec in self.settings.custom_models:
            registry.register(spec)
        self.registry: SegmenterRegistry = registry

    def model_name(self, model: str | None = None) -> str:
        """The name of the model a request uses: ``model`` (its ``model`` option; empty or None means
        unset), else the default.

        Nothing is checked, so it is safe for labelling events and logs, even of a request that failed
        because of its model; :meth:`resolve_model` checks.
        """
        return model or self.settings.default_model

    def resolve_model(self, model: str | None = None) -> ModelSpec:
        """The spec of the model a request uses: ``model`` (its ``model`` option), else the default.

        Raises
        ------
        InvalidOptionError
            ``model`` names no known model (option ``model``): the request is at fault.
        ModelNotFoundError
            ``model`` is unset and the default names no known model: the deployment is at fault.
        """
        try:
            return self.registry.spec(self.model_name(model))
        except ModelNotFoundError as error:
            if model:
                raise InvalidOptionError("model", error.message) from None
            raise ModelNotFoundError(f"the default model ({Env.DEFAULT_MODEL}): {error.message}") from None

    def segmenter(self, model: str | None = None) -> Segmenter:
        """The model a request uses (see :meth:`resolve_model`), loading it now if this is its first use.

        Raises
        ------
        InvalidOptionError
            ``model`` names a model that is unknown, or known but not deployed here (its file is absent),
            and is not the default.
        ModelNotFoundError
            The default model is unknown, or its file is absent (also when a request names it).
        ModelLoadError
            The model's file is there but cannot be used.
        """
        spec = self.resolve_model(model)
        try:
            return self.registry.get(spec.name)
        except ModelNotFoundError as error:
            # Known but absent: the request's fault only if it picked a model other than the default,
            # since a missing default fails every request alike.
            if spec.name != self.settings.default_model:
                raise InvalidOptionError(
                    "model", f"{spec.name!r} is not deployed here ({error.message})"
                ) from None
            raise

    def warm_up(self, model: str | None = None) -> None:
        """Load the model ahead of the first request (e.g. at Lambda init, outside billed latency).

        Raises what :meth:`segmenter` raises; with ``model`` unset, a misspelt or missing default
        is a ``ModelNotFoundError``, so a bad deployment fails at start-up.
        """
        self.segmenter(model)

    def process(
        self, data: bytes, options: Options | None = None, *, background: bytes | None = None
    ) -> Result:
        """Remove the background of one encoded image.

        Parameters
        ----------
        data
            The encoded input.
        options
            What to make of it; defaults give a transparent PNG cut-out.
        background
            The encoded image that ``options.background_image`` names, fetched by the caller (the engine
            does no I/O: the S3 adapter reads the key from the input bucket, an HTTP API its URL or upload).
            It is decoded under the same limits as inputs. Give it exactly when that option is set.

        Raises
        ------
        InputError
            Bad bytes or options (a subclass names which); retrying cannot help. A background image that
            cannot be decoded, or was not supplied, is ``INVALID_OPTION`` naming ``background_image``.
        ModelError
            The model is missing or broken.
        ProcessingError
            Anything unexpected.
        ValueError
            ``background`` given without ``options.background_image``: a caller's bug.
        """
        options = options or Options()
        if background is not None and options.background_image is None:
            raise ValueError("background bytes were given but options.background_image is not set")
        try:
            return self._process(data, options, background)
        except BgRemoveError:
            raise
        except MemoryError:
            raise ProcessingError("out of memory while processing the image") from None
        except Exception as error:  # a bug: callers still get the documented error type and code
            raise ProcessingError(f"unexpected {type(error).__name__}: {error}") from error

    def _process(self, data: bytes, options: Options, background_data: bytes | None) -> Result:
        clock = _Stopwatch()
        spec = self.resolve_model(options.model)  # before decoding: a bad model fails fast, even on bad input
        fmt = output_format(options).format
        if options.target_size is not None and not options.is_delta:
            _check_result_fits(fmt, options.target_size, options)  # the exact result size: fail fast too
        with clock.stage("decode"):
            decoded = decode(data, max_pixels=options.max_pixels)
            background = _decode_background(background_data, options)  # before inference: fail fast
        # Sizes, not ``decoded.scale`` (the width's ratio): 1 x 101 at 100 pixels shrinks in height only.
        if options.is_delta and decoded.image.size != decoded.input_size:
            width, height = decoded.input_size
            raise InvalidOptionError(
                "max_pixels",
                f"delta_png keeps the input size, but the {width}x{height} input is over max_pixels "
                f"({options.max_pixels}); raise max_pixels (up to {MAX_WORK_PIXELS:,}) or use another format",
            )
        segmenter = self.segmenter(options.model)
        image = decoded.image
        roi = None if options.roi is None else _geometry.roi_box(options.roi, decoded.input_size, image.size)
        with clock.stage("preprocess"):
            tensor = segmenter.prepare(image)
        with clock.stage("inference"):
            inference = run_inference(segmenter, tensor)  # locally or on an endpoint: the report says
        with clock.stage("postprocess"):
            input_alpha = image.getchannel("A") if image.mode == "RGBA" else None
            alpha = _matte.refine(
                segmenter.to_matte(inference.prediction),
                image.size,
                threshold=options.threshold,
                input_alpha=input_alpha,
                guide=image,
            )
            if roi is not None:
                alpha = _compose.keep_inside(alpha, roi)
            corners = alpha.point(_FOREGROUND_LUT).getbbox()
            foreground = BBox.from_corners(corners) if corners else None
        with clock.stage("compose"):
            decontaminated = False
            layout = self._layout(image.size, foreground, options, fmt)
            pictures: tuple[Image.Image, ...]
            if options.is_zip:
                pictures = _compose.compose_zip(image, alpha, options, layout)
            else:
                colours = _foreground_colours(image, alpha, options)
                decontaminated = colours is not None
                if options.is_delta:  # the delta's soft pixels carry their colour: the estimated one
                    pictures = (make_delta(colours or image, alpha),)
                else:
                    background_image = background.image if background is not None else None
                    pictures = (_compose.compose(colours or image, alpha, options, layout, background_image),)
        with clock.stage("encode"):
            encoded = self._encode(pictures, fmt, options)
        report = Report(
            input_size=decoded.input_size,
            result_size=layout.canvas_size,
            orientation=decoded.orientation,
            input_foreground=_geometry.scale_box(
                foreground,
                (decoded.input_size[0] / image.width, decoded.input_size[1] / image.height),
                decoded.input_size,
            ),
            result_foreground=layout.map_box(foreground),
            model=spec.name,
            format=encoded.format.value,
            content_type=encoded.content_type,
            source_format=decoded.source_format,
            timings_ms=clock.total(),
            options=options.to_dict(),
            backend=inference.backend,
            fallback=inference.fallback,
            decontaminated=decontaminated,
        )
        return Result(encoded.data, encoded.content_type, encoded.extension, report)

    def _encode(
        self, pictures: tuple[Image.Image, ...], fmt: OutputFormat, options: Options
    ) -> _encode.Encoded:
        """One picture in ``fmt``, or zip's colour image and matte."""
        level, threads = self.settings.png_compress_level, self.settings.threads
        if fmt is OutputFormat.ZIP:
            color, matte = pictures
            return _encode.encode_zip(
                color, matte, quality=options.jpeg_quality, png_compress_level=level, threads=threads
            )
        (picture,) = pictures
        return _encode.encode(
            picture, fmt, quality=options.jpeg_quality, png_compress_level=level, threads=threads
        )

    @staticmethod
    def _layout(
        size: tuple[int, int], foreground: BBox | None, options: Options, fmt: OutputFormat
    ) -> _geometry.Layout:
        if options.is_delta:
            # Pixian's contract: delta ignores colour, crop, margin, size, alignment (and placement) options.
            return _geometry.plan_layout(
                size,
                None,
                crop_to_foreground=False,
                margin=None,
                target_size=None,
                vertical_alignment=options.vertical_alignment,
            )
        layout = _geometry.plan_layout(
            size,
            foreground,
            crop_to_foreground=options.crop_to_foreground,
            margin=options.margin,
            target_size=options.target_size,
            vertical_alignment=options.vertical_alignment,
            scale=options.scale,
            position=options.position,
        )
        _check_result_fits(fmt, layout.canvas_size, options)  # before paying for compose and encode
        return layout


def _foreground_colours(image: Image.Image, alpha: Image.Image, options: Options) -> Image.Image | None:
    """The image with its soft edges' colours estimated without the old background (option
    ``decontaminate``), or ``None`` where nothing is to be done: the option is off, the result shows no
    colours or the input's own (``map``; ``overlay`` shows the matte over the original picture; ``zip``,
    whose caller does not ask), or the matte has no soft pixel (a ``threshold`` cut it hard). ``delta_png``
    ignores the background options, as Pixian's does, and carries the estimate in its soft pixels."""
    if not options.decontaminate:
        return None
    if not options.is_delta and options.background_type in (BackgroundType.MAP, BackgroundType.OVERLAY):
        return None
    # in place: the work image is the engine's own, and nothing after compose reads its colours
    return _foreground.estimate_foreground(image, alpha, in_place=True)


def _decode_background(data: bytes | None, options: Options) -> DecodedImage | None:
    """The ``background_image`` the caller fetched, through the input's hardened decoder.

    Raises
    ------
    InvalidOptionError
        The option is set but no bytes came with it, or they are no image the decoder accepts (the
        decoder's code is kept in the message): named ``background_image`` so the caller knows which
        image is at fault.
    """
    if options.background_image is None:
        return None
    if data is None:
        raise InvalidOptionError(
            "background_image", "the background image was not supplied (this caller cannot fetch it)"
        )
    try:
        return decode(data, max_pixels=MAX_BACKGROUND_PIXELS)
    except InputError as error:
        raise InvalidOptionError(
            "background_image", f"the background image: {error.message} ({error.code})"
        ) from None
