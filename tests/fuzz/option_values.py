"""Strategies for option values and keys, shared by the options and metadata fuzzers."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from bgremove.options import OPTION_NAMES, Length, Margin, option_field

# What a real caller sends for each option (valid and nearly valid), to splice random text into.
LIKELY = {
    "format": ["auto", "png", "jpeg", "jpg", "webp", "delta_png", "delta-png", "PNG", "zip", "ZIP"],
    "jpeg_quality": ["1", "75", "100", "0", "101", "80.0", "+5", "1_0"],
    "background_color": ["#ffffff", "ffffff", "#FFF", "#12345G", "#1234567"],
    "background_image": [
        "backgrounds/wall.jpg",
        "a",
        "https://example.com/bg.png?x=1",
        "k/" + "x" * 2046,
        "x" * 2049,
    ],
    "background_type": ["rgba", "map", "green", "white", "blur", "overlay"],
    "threshold": ["0", "0.5", "1", "1.0000001", ".5", "5e-1", "1e-400", "-0"],
    "roi": [
        "0 0 640 480",
        "10% 0% 90% 100%",
        "10px,20px,30px,40px",
        "90% 0 10px 100%",
        "5 5 5 5",
        "0 0 65501 1",
        "1 2 3",
    ],
    "decontaminate": ["true", "false", "1", "0", "no", "on"],
    "crop_to_foreground": ["true", "false", "1", "0", "yes", "off"],
    "margin": ["10px", "5%", "10px 20% 5px 15%", "1,2,3", "100%", "10000px", "0.000001px", "999999.999999"],
    "target_size": ["1200 1200", "1200x1200", "1×1", "5000,5000", "25000000 1", "0 5"],
    "vertical_alignment": ["top", "middle", "bottom"],
    "scale": ["original", "10%", "100%", "55.5%", "80", "9.999999%", "100.000001%", "0.5", "50%%"],
    "position": ["original", "center", "centre", "50%", "0% 100%", "25, 75", "100.5%", "1 2 3", "left"],
    "max_pixels": ["100", "25000000", "99", "25000001"],
    "test": ["true", "false"],
    "model": ["u2netp", "isnet", "fake", "../../etc/passwd", "x" * 200],
}
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000"
HUGE_INTS = [10**18, 2**63, 2**64, 10**308, 10**309, 10**400, -(10**400)]

# Non-text values a JSON or Python caller can send, each where a parser converts or compares numbers.
# 10**5000 is past int()'s and str()'s 4300-digit limit (json.loads refuses it, Python callers do not).
EDGE_SCALARS = st.sampled_from(
    [*HUGE_INTS, 10**5000, 0.1 + 0.2, 5e-324, math.inf, -math.inf, math.nan, True, False, None]
)
unicode_digits = st.text(st.characters(categories=["Nd"]), min_size=1, max_size=12)
control_text = st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=8)
number_text = st.one_of(
    st.integers().map(str),
    st.sampled_from(HUGE_INTS).map(str),
    st.floats().map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
    st.integers(0, 10**6).map(lambda n: f"{n:_}"),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "0x10", "1" * 25, "٣", "１２"]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def values_for(name: str) -> st.SearchStrategy[object]:
    """Random text and JSON, and the field's likely values with random text spliced around them."""
    likely = st.sampled_from(LIKELY[name])
    padded = st.tuples(st.text(WHITESPACE, max_size=3), likely, st.text(WHITESPACE, max_size=3)).map("".join)
    spliced = st.tuples(likely, st.text(max_size=6) | control_text | unicode_digits, st.booleans()).map(
        lambda t: t[1] + t[0] if t[2] else t[0] + t[1]
    )
    return st.one_of(
        likely,
        EDGE_SCALARS,
        padded,
        spliced,
        st.text(),
        control_text,
        unicode_digits,
        number_text,
        json_values,
        st.lists(st.integers() | st.floats() | st.text(max_size=4) | st.sampled_from(HUGE_INTS), max_size=3),
    )


any_value = st.sampled_from(OPTION_NAMES).flatmap(values_for)


def spellings(name: str) -> st.SearchStrategy[str]:
    """How callers write a field's key: field name, metadata key, any case, stray whitespace."""
    key = st.sampled_from([name, option_field(name).metadata_key])
    cased = st.tuples(key, st.sampled_from([str.lower, str.upper, str.title])).map(lambda t: t[1](t[0]))
    return st.tuples(st.sampled_from(["", " ", "\t"]), cased, st.sampled_from(["", " ", "\n"])).map("".join)


def canonical(key: str) -> str:
    """The name an error carries for ``key`` when no ``names`` mapping is given."""
    return key.strip().lower().replace("-", "_")


# Python values of every type the constructor may meet, right or wrong.
typed_values = st.one_of(
    json_values,
    st.tuples(st.integers() | st.floats() | st.booleans(), st.integers() | st.floats()),
    st.tuples(*[st.integers(-1, 256) | st.sampled_from(HUGE_INTS) | st.booleans()] * 3),
    st.builds(
        Margin,
        *[st.builds(Length, st.floats() | st.integers() | st.sampled_from(HUGE_INTS), st.booleans())] * 4,
    ),
    EDGE_SCALARS,
)
