"""README.md and docs/ lead somewhere: every relative link, anchor, Makefile target and repository path.

External http(s) links are not fetched. Anchors follow GitHub's heading slugs: the heading's text as
rendered, lower-cased, punctuation but ``-`` and ``_`` dropped, spaces as ``-``; a repeated heading gets
``-1``, ``-2``...
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import pytest

from bgremove_api.dialects.replicate_wire import DEFAULT_VERSION

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
"""Every page whose links are checked: the front page and the whole manual, decision records included."""
GUIDES = [README, *sorted(DOCS.glob("*.md"))]
"""The pages a user copies commands and paths from (the decision records quote history: not these)."""

FRONT_PAGE_MAX_LINES = 200
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)((?:(?!\n\s*\n).)+?)\1", re.DOTALL)
"""A code span: may wrap onto the next line, never across a blank one."""
MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
REFERENCE = re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAKE = re.compile(r"(?:^|[\s;&|(`])make\s+(?:-\S+\s+)*([a-z][a-z0-9_-]*)\b(?!=)")
REPO_PATH = re.compile(r"^(?:tests|functions|layers|local|bench|events|containers|docs)/\S*$")


def _split(text: str) -> tuple[str, list[str]]:
    """The prose (fenced blocks blanked, line for line) and the fenced blocks' lines."""
    prose: list[str] = []
    fenced_lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            prose.append("")
        elif fenced:
            fenced_lines.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), fenced_lines


def _outside_code(text: str) -> str:
    """The prose: fenced blocks and inline code spans blanked, line breaks kept (so line numbers hold)."""
    prose, _ = _split(text)
    return INLINE_CODE.sub(lambda m: "\n" * m.group(0).count("\n"), prose)


def _code(text: str) -> Iterator[str]:
    """Every fenced block's lines and every inline code span: where commands and paths are written."""
    prose, fenced_lines = _split(text)
    yield from fenced_lines
    yield from (" ".join(m.group(2).split()) for m in INLINE_CODE.finditer(prose))


def _links(page: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link; a link's text may wrap onto the next line."""
    prose = _outside_code(page.read_text())
    for pattern in (MD_LINK, HTML_LINK, REFERENCE):
        for match in pattern.finditer(prose):
            yield prose.count("\n", 0, match.start()) + 1, match.group(1)


def _rendered(heading: str) -> str:
    """A heading's text as GitHub renders it: code spans, links, emphasis and tags reduced to their text."""
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"(\*\*|__|\*)", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", _rendered(heading).strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def _broken(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, leads nowhere; ``None`` when it resolves (or is external)."""
    if SCHEME.match(target) or target.startswith("//"):
        return None  # http(s), mailto...: not fetched
    path_part, _, anchor = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    if not resolved.exists():
        return "no such file"
    if anchor:
        if resolved.is_dir() or resolved.suffix.lower() != ".md":
            return "an anchor into a file that is not markdown"
        if anchor not in anchors(resolved):
            return f"no heading with the anchor #{anchor} in {resolved.name}"
    return None


def _makefile_targets() -> set[str]:
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([A-Za-z0-9_.%/ -]+?)\s*:(?![=:])", line)
        if rule and not line.startswith("\t"):
            targets.update(rule.group(1).split())
    return targets


def _front_block(text: str) -> tuple[list[str], int]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if FENCE.match(line))
    end = next(i for i in range(start + 1, len(lines)) if FENCE.match(lines[i]))
    return [line.split("#", 1)[0].strip() for line in lines[start + 1 : end]], start


# ------------------------------------------------------------------------------------------------- tests
def test_the_slugs_are_githubs() -> None:
    assert slug("GPU offload (SageMaker)") == "gpu-offload-sagemaker"
    assert slug("Migrating from Pixian / remove.bg") == "migrating-from-pixian--removebg"
    assert slug("`make chaos`: faults on purpose") == "make-chaos-faults-on-purpose"
    assert slug("`delta_png`") == "delta_png"
    assert slug("Every wait fits the function's time") == "every-wait-fits-the-functions-time"
    assert slug("The **[try-it](x.md)** page") == "the-try-it-page"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = [
        f"{page.relative_to(ROOT)}:{number}: {target} ({why})"
        for number, target in _links(page)
        if (why := _broken(page, target))
    ]
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A `code` heading\n\n```\n[not a link](nowhere.md)\n```\n\n[wrapped\ntext](gone.md)\n"
    )
    assert _broken(page, "#a-code-heading") is None
    assert _broken(page, "#title") is None
    assert _broken(page, "#missing") is not None
    assert _broken(page, "nowhere.md") == "no such file"
    assert _broken(page, "https://example.com/nowhere") is None
    assert list(_links(page)) == [(9, "gone.md")]  # links inside code are not links; wrapped ones are


def test_readme_is_a_front_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= FRONT_PAGE_MAX_LINES, "README.md is a front page: detail goes in docs/"
    commands, start = _front_block(text)
    assert start <= 5, "the set-up commands come first"
    assert "make run" in commands and "make test" in commands
    assert {"run", "test", "setup"} <= _makefile_targets()


def test_every_make_target_named_in_the_guides_exists() -> None:
    targets = _makefile_targets()
    unknown = sorted(
        {
            f"{page.relative_to(ROOT)}: make {target}"
            for page in GUIDES
            for code in _code(page.read_text())
            for target in MAKE.findall(code)
            if target not in targets
        }
    )
    assert not unknown, "no such Makefile target:\n" + "\n".join(unknown)


def test_every_repository_path_named_in_the_guides_exists() -> None:
    missing = sorted(
        {
            f"{page.relative_to(ROOT)}: {path}"
            for page in GUIDES
            for code in _code(page.read_text())
            for word in code.split()
            if REPO_PATH.match(path := word.strip("`'\"(),;:"))
            and "<" not in path
            and not any(ROOT.glob(path.rstrip("/")))
        }
    )
    assert not missing, "paths that no longer exist:\n" + "\n".join(missing)


def test_the_replicate_version_is_printed_whole() -> None:
    version = DEFAULT_VERSION
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    for page in (README, DOCS / "migrate.md"):
        assert version in page.read_text(), f"{page.name} must print the full version id"
    for page in GUIDES:
        text = page.read_text()
        starts = [m.start() for m in re.finditer(version[:8], text)]
        assert all(text.startswith(version, i) for i in starts), f"{page.name} shortens the version id"


def test_the_readme_curl_calls_are_the_tested_ones() -> None:
    """test_clients.py runs docs/http-api.md's curl blocks: the README's are among them."""
    guide = (DOCS / "http-api.md").read_text()
    section = guide.split("## First requests with curl", 1)[1].split("\n## ", 1)[0]
    tested = set(re.findall(r"```sh\n(.*?)```", section, re.DOTALL))
    readme = [b for b in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL) if "curl " in b]
    assert all(block in tested for block in readme), "a README curl call that test_clients.py does not run"


# ------------------------------------------------------------------------ pointers in the code's own prose
CODE_DIRS = ("functions", "layers", "local", "containers", "bench", "tests")
"""Folders whose Python comments and docstrings, and whose markdown pages, are checked."""
WHOLE_FILES = ("template.yaml", "Makefile", "pyproject.toml")
"""Read whole: their comments, descriptions and the paths and handlers they name."""
PACKAGES = {
    "bgremove": ROOT / "layers/engine/bgremove",
    "bgremove_api": ROOT / "functions/api/bgremove_api",
    "processor": ROOT / "functions/processor/processor",
    "bgremove_local": ROOT / "local/bgremove_local",
    "bgremove_inference": ROOT / "containers/inference/bgremove_inference",
}
OLD_PACKAGE = "api"
"""The HTTP API package's former name: ``api.<module>`` is stale where ``bgremove_api.<module>`` is one."""
GENERATED = ("bench/results/raw/",)
"""Git-ignored output folders: a path into one exists only after a run, so it is not checked either way."""
ALLOWED = {
    ("layers/engine/bgremove/models/_kserve.py", "docs/protocol/"): "a folder of Triton's own repository "
    "(triton-inference-server/server), which the docstring names",
    ("tests/unit/engine/test_kserve.py", "docs/protocol/extension_binary_data.md"): "a page of Triton's "
    "repository, as above",
    ("bench/gpu/run_gpu.py", "bench/results/gpu.json"): "what run_gpu.py writes on a GPU, to be committed "
    "once it has run on one (none was lent where this project was developed)",
    ("bench/gpu/README.md", "bench/results/gpu.json"): "as above",
}
"""(file, pointer): pointers that rightly name no file of this checkout, and why."""
DECISION = re.compile(r"docs/decisions/\d{4}")
"""A decision record by its number (``docs/decisions/0009``): the record whose name starts with it."""
_EDGE = r"(?<![\w.$/:-])"
"""A pointer starts a word: not inside a longer path (``/usr/local/``), a host (``api.pixian.ai``), a
``revision:path`` or a variable."""
CODE_PATH = re.compile(
    _EDGE
    + r"((?:functions|layers|local|containers|bench|tests|docs|events)/[\w.*/-]*[\w*/](?:#[\w-]+)?)(?![<{$])"
)
"""A path from the repository root, ``docs/deploy.md#what-it-costs`` included; a template (``local/<name>``)
is not one."""
PACKAGE_PATH = re.compile(
    _EDGE
    + rf"((?:{'|'.join([*PACKAGES, OLD_PACKAGE])})/[\w./-]*\.(?:py|pyi|html|js|css|json|md|txt|typed))\b"
)
"""A file named inside its package (``bgremove/_png.py``): only with an extension, so S3 prefixes are not."""
SECTION = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*README(?:\.md)?)(?:'s)?,?\s+\(?\"([^\"]+)\"")
"""A README and one of its sections by title (``containers/inference/README.md, "The protocol"``; a bare
README is the front page): the manual left the front page for docs/, so a section named must still be one."""
MODULE_NAME = re.compile(_EDGE + rf"((?:{'|'.join([*PACKAGES, OLD_PACKAGE])})(?:\.\w+)+)(?![\w-])")
"""A dotted module name, perhaps with attributes (``bgremove_api.exceptions.UrlError``)."""


def _prose_of_python(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and every string statement (docstrings, attribute docstrings)."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for offset, line in enumerate(node.value.value.splitlines()):
                yield node.lineno + offset, line


def _prose() -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of the code's prose: the sources' comments and docstrings, the markdown pages
    beside the code (README.md and docs/ have the tests above), and the whole of :data:`WHOLE_FILES`."""
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            name = path.relative_to(ROOT).as_posix()
            if "__pycache__" in path.parts or name.startswith(GENERATED) or not path.is_file():
                continue
            if path.suffix == ".py":
                yield from ((name, number, text) for number, text in _prose_of_python(path.read_text()))
            elif path.suffix == ".md":
                yield from (
                    (name, number, text) for number, text in enumerate(path.read_text().splitlines(), 1)
                )
    for name in WHOLE_FILES:
        for number, text in enumerate((ROOT / name).read_text().splitlines(), 1):
            yield name, number, text


def _missing_path(pointer: str) -> str | None:
    """Why the repository path ``pointer`` (perhaps ``page.md#anchor``) leads nowhere; ``None`` if it does."""
    path, _, anchor = pointer.partition("#")
    if path.startswith(GENERATED):
        return None
    if DECISION.fullmatch(path):
        path += "-*.md"
    found = sorted(ROOT.glob(path.rstrip("/")))
    if not found:
        return "no such path"
    if anchor and (found[0].suffix != ".md" or anchor not in anchors(found[0])):
        return f"no heading with the anchor #{anchor}"
    return None


def _missing_package_file(pointer: str) -> str | None:
    """Why ``package/file`` names no file of that package; ``None`` if it does."""
    package, _, rest = pointer.partition("/")
    folder = PACKAGES.get(package)
    if folder is None:
        return "the package is now bgremove_api"
    return None if any(folder.glob(rest)) else "no such file in the package"


def _has(owner: object, name: str) -> bool:
    """``owner.name`` exists: an attribute, a dataclass field or an annotated name (of a class or module)."""
    if hasattr(owner, name):
        return True
    classes = getattr(owner, "__mro__", (owner,))
    return any(
        name in getattr(c, "__dataclass_fields__", {}) or name in vars(c).get("__annotations__", {})
        for c in classes
    )


@cache
def _unresolved(name: str) -> str | None:
    """Why the dotted ``name`` names nothing: its longest prefix that is a module (found by
    :func:`importlib.util.find_spec`, prefix by prefix), then attributes of that module."""
    parts = name.split(".")
    if parts[0] == OLD_PACKAGE:
        renamed = f"bgremove_api.{parts[1]}"
        return f"the package is now bgremove_api: {renamed}" if _unresolved(renamed) is None else None
    module = parts[0]
    for part in parts[1:]:
        try:
            found = importlib.util.find_spec(f"{module}.{part}")
        except ImportError:  # ``module`` is a module, not a package
            found = None
        if found is None:
            break
        module = f"{module}.{part}"
    owner: object = importlib.import_module(module)
    for attribute in parts[module.count(".") + 1 :]:
        if not _has(owner, attribute):
            return (
                f"{module} has no {attribute!r}"
                if owner is sys.modules[module]
                else f"no attribute {attribute!r}"
            )
        owner = getattr(owner, attribute, None)
    return None


def _missing_section(readme: str, title: str) -> str | None:
    """Why the section ``title`` of ``readme`` (the front page when no folder is named) is not one."""
    page = ROOT / (readme if "/" in readme else "README.md")
    page = page if page.suffix == ".md" else page.with_suffix(".md")
    if not page.exists():
        return "no such README"
    return None if slug(title) in anchors(page) else f"no section {title!r} in {page.relative_to(ROOT)}"


def _stale_pointers(lines: Iterable[tuple[str, int, str]]) -> list[str]:
    """``file:line: pointer (why)`` of every pointer in ``lines`` that leads nowhere and is not allowed."""
    checks = ((CODE_PATH, _missing_path), (PACKAGE_PATH, _missing_package_file), (MODULE_NAME, _unresolved))
    stale = []
    for where, number, text in lines:
        found = [(m.group(1), why(m.group(1))) for pattern, why in checks for m in pattern.finditer(text)]
        found += [(m.group(0), _missing_section(*m.groups())) for m in SECTION.finditer(text)]
        stale += [
            f"{where}:{number}: {pointer} ({reason})"
            for pointer, reason in found
            if reason and (where, pointer) not in ALLOWED
        ]
    return stale


def test_the_codes_pointers_lead_somewhere() -> None:
    """Comments, docstrings, the pages beside the code, template.yaml, the Makefile and pyproject.toml name
    paths, headings, README sections and modules that exist."""
    stale = _stale_pointers(_prose())
    assert not stale, "pointers that lead nowhere:\n" + "\n".join(stale)


def test_the_allowed_pointers_are_still_there() -> None:
    """An allowance whose pointer left its file is dropped, not kept to excuse another."""
    gone = [f"{where}: {pointer}" for where, pointer in ALLOWED if pointer not in (ROOT / where).read_text()]
    assert not gone, "allowed pointers no longer in their file:\n" + "\n".join(gone)


@pytest.mark.parametrize(
    ("text", "stale"),
    [
        ("see functions/api/bgremove_api/jobs.py", "functions/api/bgremove_api/jobs.py"),
        ("(tests/unit/test_ops_dashboard.py checks it)", "tests/unit/test_ops_dashboard.py"),
        ("docs/deploy.md#what-it-was", "docs/deploy.md#what-it-was"),
        (":class:`~api.exceptions.UrlError` subclass", "api.exceptions.UrlError"),
        ("(:data:`bgremove_api.webhooks.BODY_BUILDERS`)", "bgremove_api.webhooks.BODY_BUILDERS"),
        ("the function (api/app.py)", "api/app.py"),
        ("the try-it page (bgremove_api/page.py)", "bgremove_api/page.py"),
        ('README, "GPU offload (SageMaker)".', 'README, "GPU offload (SageMaker)"'),
        ("docs/decisions/0099", "docs/decisions/0099"),
    ],
)
def test_the_pointer_checker_sees_a_stale_pointer(text: str, stale: str) -> None:
    found = _stale_pointers([("x.py", 1, text)])
    assert len(found) == 1 and found[0].startswith(f"x.py:1: {stale} ("), found


@pytest.mark.parametrize(
    "text",
    [
        "its input under api/<job id>/ in the input bucket; Prefix: api-results/ and ${OutputPrefix}api/",
        "https://api.pixian.ai/api/v2/remove-background and abc.execute-api.us-east-1.amazonaws.com",
        "/usr/local/bin, bgremove.egg-info, s3://bucket/tests/x.py, `git show 73a16df:bench/experiments/`",
        "docs/decisions/0009, docs/deploy.md#what-it-costs, tests/integration/api/test_async_*.py",
        "Handler: bgremove_api.app.lambda_handler; :meth:`~bgremove_api.webhooks.WebhookDeliverer.deliver`",
        ":attr:`bgremove_api.dialects.dialect.Dialect.webhook`, bgremove_api/dialects/page.py",
        'containers/inference/README.md ("The protocol"); the api.key of a test',
    ],
)
def test_the_pointer_checker_lets_legitimate_text_be(text: str) -> None:
    assert _stale_pointers([("x.py", 1, text)]) == []
