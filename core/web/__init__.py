"""Web pages: one view returns one dict, rendered as HTML (Jinja2) or JSON."""


def includeme(config):
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path("core:templates", name=".html")
    config.add_static_view("static", "core:static", cache_max_age=3600)
    config.scan("core.web")
