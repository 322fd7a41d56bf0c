"""Citation snippets cut from Markdown help articles read as plain text (web/plain.py)."""

from __future__ import annotations

import pytest

from web.plain import markdown_to_text


def test_headings_and_emphasis_lose_their_markers():
    assert markdown_to_text("## Returns\n\nYou have **30 days** to return it.") == (
        "Returns You have 30 days to return it."
    )
    assert markdown_to_text("# Care ##\n*Hand wash* only, __never__ ~~soak~~ it") == (
        "Care Hand wash only, never soak it"
    )


def test_links_and_images_keep_only_their_text():
    text = "See [our returns form](https://example.com/help/returns) or ![a kettle](k.png)"
    assert markdown_to_text(text) == "See our returns form or a kettle"
    assert markdown_to_text("Mail <mailto:help@example.com> or [us][contact]") == (
        "Mail mailto:help@example.com or us"
    )
    assert markdown_to_text("Text.\n\n[contact]: https://example.com/contact") == "Text."


def test_list_bullets_quotes_and_rules_go_but_numbered_steps_keep_their_numbers():
    text = "- one\n* two\n+ three\n\n---\n\n> quoted\n1. first step"
    assert markdown_to_text(text) == "one two three quoted 1. first step"


def test_code_is_shown_as_written_without_its_backticks():
    assert markdown_to_text("Use `KC-*` or:\n```\nKC-10042\n```") == "Use KC-* or: KC-10042"
    assert markdown_to_text("Type `**bold**` to bold") == "Type **bold** to bold"


def test_html_tags_and_comments_go_and_entities_become_characters():
    text = "<p>Free <b>over</b> $60</p><!-- internal note -->&amp; fast &lt;tag&gt;"
    assert markdown_to_text(text) == "Free over $60 & fast <tag>"


def test_table_rows_read_as_cells_apart():
    text = "| Option | Cost |\n|---|:---:|\n| US Standard | **free** over $60 |"
    assert markdown_to_text(text) == "Option · Cost US Standard · free over $60"


def test_whitespace_collapses_to_single_spaces():
    assert markdown_to_text("  a\n\n\tb   c \n") == "a b c"
    assert markdown_to_text("") == ""


@pytest.mark.parametrize(
    "prose",
    [
        "Order #12 ships in 2 * 3 days",
        "snake_case_name and a < b > c",
        "Prices: $5.95 - $35.00, 20% off",
    ],
)
def test_ordinary_prose_is_left_alone(prose):
    assert markdown_to_text(prose) == prose


def test_escaped_markers_are_kept_as_characters():
    assert markdown_to_text(r"\*not emphasis\* and \# not a heading") == (
        "*not emphasis* and # not a heading"
    )


def test_markup_left_open_where_the_snippet_was_cut_is_dropped():
    assert markdown_to_text("Orders placed **before 1 pm Pacific …") == (
        "Orders placed before 1 pm Pacific …"
    )
