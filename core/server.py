"""The development server runner: waitress, with `pserve development.ini http_port=N`."""

import waitress


def serve(app, global_conf, host: str = "127.0.0.1", port: str = "6543", **options):
    """Serve on host:port; an `http_port=N` given to pserve wins over the .ini's port."""
    port = global_conf.get("http_port") or port
    waitress.serve(app, host=host, port=int(port), **options)
