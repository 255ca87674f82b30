"""JSON or HTML: the superset of PYBOSSA's negotiation (decision 9)."""


def wants_json(request) -> bool:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return True
    if request.GET.get("response_format") == "json":
        return True
    accept = request.headers.get("Accept") or ""
    return "application/json" in accept and "text/html" not in accept


def includeme(config):
    config.add_request_method(wants_json, "wants_json", reify=True)
