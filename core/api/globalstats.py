"""GET /api/globalstats: site-wide figures, cached briefly."""

from cornice import Service

from core.services.site_stats import global_figures

globalstats = Service(name="globalstats", path="/api/globalstats", cors_origins=("*",))
globalstats_one = Service(
    name="globalstats_one", path="/api/globalstats/{any}", cors_origins=("*",)
)

CACHE_SECONDS = 60


@globalstats.get()
@globalstats_one.get()
def get_globalstats(request):
    request.api_target = "globalstatsapi"
    cache = request.registry["cache"]
    return cache.get_or_create(
        "globalstats", lambda: global_figures(request.dbsession), expiration_time=CACHE_SECONDS
    )
