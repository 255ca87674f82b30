"""The /api services: one module per domain object, each a few lines over api.base."""


def includeme(config):
    config.scan("core.api")
    config.add_route("api_root", "/api")
    config.add_view(
        lambda request: request.response.__class__(
            text=f"The {request.registry.settings['brand']} API", content_type="text/plain"
        ),
        route_name="api_root",
    )
