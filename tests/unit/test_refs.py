"""ref() -> source() rewriting over Jinja (and Python) tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbtscaffold.dbt.refs import (
    RefSyntaxError,
    RefTarget,
    rewrite_jinja_refs,
    rewrite_python_refs,
    rewrite_yaml_refs,
)

T = RefTarget(seed="raw_customers", project="jaffle_shop", source="shop")
SRC = "source('shop', 'raw_customers')"


@pytest.mark.parametrize(
    ("before", "after", "count"),
    [
        ("select * from {{ ref('raw_customers') }}", f"select * from {{{{ {SRC} }}}}", 1),
        (
            'select * from {{ ref("raw_customers") }}',
            'select * from {{ source("shop", "raw_customers") }}',
            1,
        ),
        ("{{ ref('jaffle_shop', 'raw_customers') }}", f"{{{{ {SRC} }}}}", 1),
        ("{{ref('raw_customers')}}", f"{{{{{SRC}}}}}", 1),
        ("{{   ref (  'raw_customers'  )   }}", f"{{{{   {SRC}   }}}}", 1),
        ("{{ ref(\n    'raw_customers'\n) }}", f"{{{{ {SRC} }}}}", 1),
        ("{{- ref('raw_customers') -}}", f"{{{{- {SRC} -}}}}", 1),
        ("{% set r = ref('raw_customers') %}{{ r }}", f"{{% set r = {SRC} %}}{{{{ r }}}}", 1),
        ("-- from {{ ref('raw_customers') }}\nselect 1", f"-- from {{{{ {SRC} }}}}\nselect 1", 1),
        (
            "{{ ref('raw_customers') }} join {{ ref('raw_customers') }}",
            f"{{{{ {SRC} }}}} join {{{{ {SRC} }}}}",
            2,
        ),
        ("a\r\n{{ ref('raw_customers') }}\r\nb\r\n", f"a\r\n{{{{ {SRC} }}}}\r\nb\r\n", 1),
        ("a\r{{ ref('raw_customers') }}\rb", f"a\r{{{{ {SRC} }}}}\rb", 1),
    ],
)
def test_rewrites_refs_to_the_seed(before, after, count):
    assert rewrite_jinja_refs(before, T) == (after, count)


@pytest.mark.parametrize(
    "text",
    [
        "{# based on {{ ref('raw_customers') }} #}\nselect 1",
        "{% raw %}{{ ref('raw_customers') }}{% endraw %}",
        "select 'ref(''raw_customers'')' -- plain SQL text is not Jinja: ref('raw_customers')",
        "{{ ref('raw_customers_v2') }}",
        "{{ ref('other_package', 'raw_customers') }}",
        "{{ ref('raw_customers', v=2) }}",
        "{{ ref('raw_customers', version=2) }}",
        "{{ adapter.ref('raw_customers') }}",
        "{{ myref('raw_customers') }}",
        "{{ ref(seed_name) }}",
        "{{ ref('raw_' ~ 'customers') }}",
        "{{ source('shop', 'raw_customers') }}",
        "no jinja at all",
    ],
)
def test_leaves_everything_else_alone(text):
    assert rewrite_jinja_refs(text, T) == (text, 0)


def test_comment_and_code_on_one_line():
    text = "{# {{ ref('raw_customers') }} #} {{ ref('raw_customers') }} {# ref('raw_customers') #}"
    expected = (
        f"{{# {{{{ ref('raw_customers') }}}} #}} {{{{ {SRC} }}}} {{# ref('raw_customers') #}}"
    )
    assert rewrite_jinja_refs(text, T) == (expected, 1)


def test_is_idempotent():
    once, n = rewrite_jinja_refs("{{ ref('raw_customers') }}", T)
    assert n == 1
    assert rewrite_jinja_refs(once, T) == (once, 0)


def test_bad_jinja_names_the_line():
    with pytest.raises(RefSyntaxError) as e:
        rewrite_jinja_refs("select 1\nfrom {{ ref('raw_customers') }\n{% endif %}", T)
    assert e.value.line == 2


@pytest.mark.parametrize(
    ("before", "after", "count"),
    [
        (
            "      - relationships:\n          to: ref('raw_customers')\n          field: id\n",
            f"      - relationships:\n          to: {SRC}\n          field: id\n",
            1,
        ),
        (
            '          to: ref("jaffle_shop", "raw_customers")\r\n',
            '          to: source("shop", "raw_customers")\r\n',
            1,
        ),
        (
            "    depends_on:\n      - ref('raw_customers')\n      - ref('orders')\n",
            f"    depends_on:\n      - {SRC}\n      - ref('orders')\n",
            1,
        ),
        (
            "    where: \"id in (select id from {{ ref('raw_customers') }})\"\n",
            f'    where: "id in (select id from {{{{ {SRC} }}}})"\n',
            1,
        ),
        (
            "# to: ref('raw_customers')\nto: ref('x')\n",
            "# to: ref('raw_customers')\nto: ref('x')\n",
            0,
        ),
        (
            "to: ref('raw_customers')  # was ref('raw_customers')\n",
            f"to: {SRC}  # was ref('raw_customers')\n",
            1,
        ),
        (
            "description: |\n  # heading\n  uses ref('raw_customers')\n",
            f"description: |\n  # heading\n  uses {SRC}\n",
            1,
        ),
        ("to: myref('raw_customers')\n", "to: myref('raw_customers')\n", 0),
        (
            "description: \"see {# ref('raw_customers') #}\"\n",
            "description: \"see {# ref('raw_customers') #}\"\n",
            0,
        ),
    ],
)
def test_yaml(before, after, count):
    assert rewrite_yaml_refs(before, T) == (after, count)


def test_yaml_comment_with_an_open_jinja_comment_does_not_hide_later_refs():
    text = "# a {# stray\nto: ref('raw_customers')\n"
    assert rewrite_yaml_refs(text, T) == (f"# a {{# stray\nto: {SRC}\n", 1)


@pytest.mark.parametrize(
    ("before", "after", "count"),
    [
        (
            'def model(dbt, session):\n    return dbt.ref("raw_customers")\n',
            'def model(dbt, session):\n    return dbt.source("shop", "raw_customers")\n',
            1,
        ),
        (
            "df = dbt.ref( 'jaffle_shop',\r\n  'raw_customers' )\r\n# dbt.ref('raw_customers')\r\n",
            f"df = dbt.{SRC}\r\n# dbt.ref('raw_customers')\r\n",
            1,
        ),
        ("x = other.ref('raw_customers')\n", "x = other.ref('raw_customers')\n", 0),
        ("x = 'dbt.ref(\"raw_customers\")'\n", "x = 'dbt.ref(\"raw_customers\")'\n", 0),
    ],
)
def test_python_models(before, after, count):
    assert rewrite_python_refs(before, T) == (after, count)


# --- property-based: only refs to the seed change, and a second pass changes nothing ------

_IDENT = st.sampled_from(
    ["raw_customers", "raw_orders", "orders", "raw_customers_x", "x_raw_customers"]
)
_Q = st.sampled_from(["'", '"'])
_WS = st.sampled_from(["", " ", "  ", "\n", "\t"])
_NL = st.sampled_from(["\n", "\r\n"])
_DATA = st.lists(
    st.sampled_from(
        [*"abc xyz_,.;*()'\"-=\n", "ref", "raw_customers", "select ", "ref('raw_customers')"]
    ),
    max_size=12,
).map("".join)


@st.composite
def _piece(draw):
    """(input text, expected text) of one fragment of a Jinja-SQL file."""
    kind = draw(st.sampled_from(["data", "ref", "ref2", "comment", "if", "other_call", "set"]))
    q, w1, w2, w3 = draw(_Q), draw(_WS), draw(_WS), draw(_WS)
    name = draw(_IDENT)
    if kind == "data":
        text = draw(_DATA)
        return text, text
    if kind in ("ref", "ref2"):
        pkg = draw(st.sampled_from(["jaffle_shop", "other_pkg"])) if kind == "ref2" else None
        args = f"{q}{name}{q}" if pkg is None else f"{q}{pkg}{q},{w3}{q}{name}{q}"
        call = f"ref{w1}({w2}{args}{w3})"
        text = "{{" + w1 + call + w2 + "}}"
        hit = name == "raw_customers" and pkg in (None, "jaffle_shop")
        repl = f"source({q}shop{q}, {q}raw_customers{q})" if hit else call
        return text, "{{" + w1 + repl + w2 + "}}"
    if kind == "comment":
        text = "{#" + w1 + f"ref({q}{name}{q})" + w2 + "#}"
        return text, text
    if kind == "if":
        return "{%" + w1 + "if x" + w2 + "%}", "{%" + w1 + "if x" + w2 + "%}"
    if kind == "set":
        text = "{% set v = " + f"{q}{name}{q}" + " %}"
        return text, text
    text = "{{ myref(" + f"{q}{name}{q}" + ") }}"
    return text, text


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_piece(), max_size=12), nl=_NL)
def test_property_only_seed_refs_change_and_rewrite_is_idempotent(pieces, nl):
    before = "".join(p[0] for p in pieces).replace("\n", nl)
    expected = "".join(p[1] for p in pieces).replace("\n", nl)
    after, _ = rewrite_jinja_refs(before, T)
    assert after == expected
    assert rewrite_jinja_refs(after, T) == (after, 0)


def test_lexing_stops_after_the_last_mention_of_the_seed():
    # What follows the seed's last mention cannot hold a ref to it: broken Jinja there is
    # dbt's to report, and the refs before it are rewritten as always.
    text = "select * from {{ ref('raw_customers') }}\n{% if x %}{{ unclosed\n"
    out, n = rewrite_jinja_refs(text, T)
    assert n == 1
    assert out == text.replace("ref('raw_customers')", SRC)
    # Broken before the mention still stops the rewrite, naming the line.
    with pytest.raises(RefSyntaxError) as e:
        rewrite_jinja_refs("{{ unclosed }\n{{ ref('raw_customers') }}", T)
    assert e.value.line == 1
