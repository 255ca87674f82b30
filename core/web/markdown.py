"""The `markdown` template filter: owner-written Markdown as HTML, raw HTML shown as text."""

from markdown_it import MarkdownIt
from markupsafe import Markup

# CommonMark with tables and strikethrough, as PYBOSSA's renderer offers. `html: False` shows
# raw HTML as text instead of passing it through (a project description is read by everyone);
# markdown-it's link check refuses javascript:, vbscript:, file: and non-image data: links.
_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str | None) -> Markup:
    """Markdown text as safe HTML."""
    return Markup(_PARSER.render(text or ""))


def includeme(config):
    def add_filter():
        config.get_jinja2_environment(".html").filters["markdown"] = markdown

    # After pyramid_jinja2's own action has created the environment of `.html` templates.
    config.action(None, add_filter, order=999)
