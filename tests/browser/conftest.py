"""Fixtures of the browser test: the app served by waitress on a free port, headless Chromium.

The test runs only when asked for (`-m browser`, `make test-browser`, part of `make test` when
Chromium is installed) and is skipped, saying why, when /usr/bin/chromium or chromedriver is
missing. Screenshots of each step go to $CROWDNEST_SCREENSHOTS (default var/screenshots/).
"""

import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyramid.paster import get_appsettings

from core import main
from core.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CROWDNEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CROWDNEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# As root, in a closed network, Chromium stalls without these.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: headless Chromium drives the web application through selenium "
        "(`make test-browser`; skipped without chromium and chromium-driver)",
    )


def pytest_collection_modifyitems(config, items):
    """Tens of seconds and a real browser: run only when asked for (`-m browser`)."""
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the browser test runs with -m browser (make test-browser)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder the screenshots go to, emptied of the last run's."""
    folder = Path(os.environ.get("CROWDNEST_SCREENSHOTS") or ROOT / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class LiveServer:
    """The WSGI app served by waitress in a thread, on a free loopback port.

    `requests` records (method, path, Origin header, Cookie header) of every request, so that
    tests can prove what a browser sent (the presenter frame's requests carry no cookie).
    """

    def __init__(self, application):
        from waitress.server import create_server

        self.app = application
        self.requests = []
        self.server = create_server(self.recorded, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def recorded(self, environ, start_response):
        seen = (environ.get("HTTP_ORIGIN"), environ.get("HTTP_COOKIE", ""))
        self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), *seen))
        return self.app(environ, start_response)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.close()
        self.thread.join(timeout=10)
        self.app.registry["db_engine"].dispose()


@contextmanager
def served_application(**overrides):
    """development.ini's application on a fresh SQLite database and upload folder, served
    (`overrides`: more settings)."""
    folder = tempfile.mkdtemp(prefix="crowdnest-browser-")
    url = f"sqlite:///{folder}/crowdnest.sqlite"
    upgrade(url)
    settings = get_appsettings(str(ROOT / "development.ini"), name="main")
    settings.update(
        {
            "sqlalchemy.url": url,
            "upload.dir": os.path.join(folder, "uploads"),
            "session.secret": "browser-test-secret",
            "redis.url": "",
            "ratelimit.limit": "100000",
            "mail.debug_dir": os.path.join(folder, "mail"),
            **overrides,
        }
    )
    server = LiveServer(main(settings.global_conf, **settings)).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server():
    """The server the browser tests share (its first registered account is the admin)."""
    with served_application() as server:
        yield server


def _chromium_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


@pytest.fixture
def new_browser(tmp_path):
    """Start headless Chromiums (each with its own profile, so its own cookies)."""
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(*flags):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, *flags):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / f'profile-{len(drivers)}'}")
        # Every console message, of the page and its frames: driver.get_log("browser").
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
