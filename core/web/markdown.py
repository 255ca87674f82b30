"""Template rules on user-written values: the `markdown` filter (owner-written Markdown as HTML,
raw HTML shown as text) and the `web_url` test (a link target the API would accept)."""

from markdown_it import MarkdownIt
from markupsafe import Markup

from core.schemas import is_web_url

# CommonMark with tables and strikethrough, as PYBOSSA's renderer offers. `html: False` shows
# raw HTML as text instead of passing it through (a project description is read by everyone);
# markdown-it's link check refuses javascript:, vbscript:, file: and non-image data: links.
_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str | None) -> Markup:
    """Markdown text as safe HTML."""
    return Markup(_PARSER.render(text or ""))


def includeme(config):
    def add_filter():
        environment = config.get_jinja2_environment(".html")
        environment.filters["markdown"] = markdown
        # The schemas' rule, so a page never links what the API would refuse to store.
        environment.tests["web_url"] = is_web_url

    # After pyramid_jinja2's own action has created the environment of `.html` templates.
    config.action(None, add_filter, order=999)
