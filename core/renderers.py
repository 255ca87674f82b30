"""The API's JSON renderer: orjson, the same output shape, several times faster."""

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS


def _fallback(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class OrjsonRenderer:
    """A Pyramid renderer factory; replaces Cornice's `cornicejson`."""

    def __init__(self, info=None):
        self.info = info

    def __call__(self, info):
        return self._render

    @staticmethod
    def _render(value, system):
        request = system.get("request")
        if request is not None:
            response = request.response
            if response.content_type == response.default_content_type:
                response.content_type = "application/json"
        return orjson.dumps(value, default=_fallback, option=OPTIONS)
