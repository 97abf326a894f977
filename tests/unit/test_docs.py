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
from collections.abc import Iterator
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
CODE_DIRS = ("functions", "layers", "local", "containers", "bench")
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
"""The HTTP API package's former name: ``api.<module>`` is a stale pointer when ``bgremove_api.<module>`` is one."""
GENERATED = ("bench/results/raw/",)
"""Git-ignored output folders: a path into one exists only after a run, so it is not checked either way."""
_EDGE = r"(?<![\w.$/-])"
"""A pointer starts a word: not inside a longer path (``/usr/local/``), a host (``api.pixian.ai``) or a variable."""
CODE_PATH = re.compile(
    _EDGE + r"((?:functions|layers|local|containers|bench|tests|docs|events)/[\w.*/-]*[\w*/](?:#[\w-]+)?)(?![<{$])"
)
"""A path from the repository root, ``docs/page.md#anchor`` included; a template (``local/<name>``) is not one."""
PACKAGE_PATH = re.compile(
    _EDGE + rf"((?:{'|'.join([*PACKAGES, OLD_PACKAGE])})/[\w./-]*\.(?:py|pyi|html|js|css|json|md|txt|typed))\b"
)
"""A file named inside its package (``bgremove/_png.py``): only with an extension, so S3 prefixes are not."""
MODULE_NAME = re.compile(_EDGE + rf"((?:{'|'.join([*PACKAGES, OLD_PACKAGE])})(?:\.\w+)+)(?![\w-])")
"""A dotted module name, perhaps with an attribute (``bgremove_api.fetch.UrlError``)."""


def _prose_of_python(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and every string statement (docstrings, attribute docstrings)."""
    source = path.read_text()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for offset, line in enumerate(node.value.value.splitlines()):
                yield node.lineno + offset, line


def _prose() -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of the code's prose: the sources' comments and docstrings, and the whole files."""
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts and not path.relative_to(ROOT).as_posix().startswith(GENERATED):
                for number, text in _prose_of_python(path):
                    yield path.relative_to(ROOT).as_posix(), number, text
    for name in WHOLE_FILES:
        for number, text in enumerate((ROOT / name).read_text().splitlines(), 1):
            yield name, number, text


def _missing_path(pointer: str) -> str | None:
    """Why the repository path ``pointer`` (perhaps ``page.md#anchor``) leads nowhere; ``None`` if it resolves."""
    path, _, anchor = pointer.partition("#")
    if path.startswith(GENERATED):
        return None
    found = sorted(ROOT.glob(path.rstrip("/")))
    if not found:
        return "no such path"
    if anchor and (found[0].suffix != ".md" or anchor not in anchors(found[0])):
        return f"no heading with the anchor #{anchor}"
    return None


def _missing_package_file(pointer: str) -> str | None:
    package, _, rest = pointer.partition("/")
    folder = PACKAGES.get(package)
    if folder is None:
        return f"the package {package!r} is now bgremove_api"
    return None if any(folder.glob(rest)) else "no such file in the package"


def _has(owner: object, name: str) -> bool:
    """``owner.name`` exists: an attribute, a dataclass field or an annotated name (of a class or a module)."""
    if hasattr(owner, name):
        return True
    classes = getattr(owner, "__mro__", (owner,))
    return any(name in getattr(c, "__dataclass_fields__", {}) or name in vars(c).get("__annotations__", {}) for c in classes)


@cache
def _unresolved(name: str) -> str | None:
    """Why the dotted ``name`` names nothing: the longest prefix that is a module, then attributes of it."""
    parts = name.split(".")
    if parts[0] == OLD_PACKAGE:
        renamed = f"bgremove_api.{parts[1]}"
        return f"the package is now bgremove_api ({renamed})" if _unresolved(renamed) is None else None
    module = parts[0]
    for part in parts[1:]:
        try:
            found = importlib.util.find_spec(f"{module}.{part}")
        except ImportError:  # module is not a package
            found = None
        if found is None:
            break
        module = f"{module}.{part}"
    owner: object = importlib.import_module(module)
    for attribute in parts[module.count(".") + 1 :]:
        if not _has(owner, attribute):
            return f"{module} has no {attribute!r}" if owner is sys.modules[module] else f"no attribute {attribute!r}"
        owner = getattr(owner, attribute, None)
    return None


def _stale_pointers(lines: Iterator[tuple[str, int, str]]) -> list[str]:
    stale = []
    for where, number, text in lines:
        checks = (
            (CODE_PATH, _missing_path),
            (PACKAGE_PATH, _missing_package_file),
            (MODULE_NAME, _unresolved),
        )
        for pattern, why in checks:
            for match in pattern.finditer(text):
                if reason := why(match.group(1)):
                    stale.append(f"{where}:{number}: {match.group(1)} ({reason})")
    return stale


def test_the_codes_pointers_lead_somewhere() -> None:
    """Comments, docstrings, template.yaml and the Makefile name paths, pages and modules that exist."""
    stale = _stale_pointers(_prose())
    assert not stale, "pointers that lead nowhere:\n" + "\n".join(stale)
