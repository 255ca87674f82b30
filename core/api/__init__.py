"""The /api services: one module per domain object, each a few lines over api.base."""

import re

from core.db import UNTRACKED_GETS
from core.renderers import OrjsonRenderer


def includeme(config):
    # Cornice's services render with `cornicejson`: make it orjson (committing first, so the
    # replacement overrides Cornice's registration instead of conflicting with it).
    config.commit()
    config.add_renderer("cornicejson", OrjsonRenderer())
    config.scan("core.api")
    # Lists, single objects and newtask run without pyramid_tm (core.db.untracked_tween): its
    # zope transaction costs more than their session's own commit, which ends what they wrote.
    from core.api.base import RESOURCES
    from core.delivery import NEWTASK_PATH

    names = "|".join(sorted(RESOURCES))
    config.registry[UNTRACKED_GETS] = re.compile(
        f"/api/(?:{names})(?:/[0-9]+)?|{NEWTASK_PATH.pattern}"
    )
    config.include("core.openapi")
    config.add_route("api_root", "/api")
    config.add_view(
        lambda request: request.response.__class__(
            text=f"The {request.registry.settings['brand']} API", content_type="text/plain"
        ),
        route_name="api_root",
    )
