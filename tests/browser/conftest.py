"""Browser fixtures: one headless Chromium per test module, driven through Debian's chromedriver,
and a small helper that does what a staff member does in Django admin (log in, open a page,
tick rows, run an action, read the messages and the list).

The driver is always the system one passed to Selenium explicitly, so Selenium Manager never
runs (it would try to download a driver, and CI has no internet). Both binaries come from
`make system-deps` (Debian packages chromium and chromium-driver); without them the browser
tests skip with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.alerts.conftest import deliver_all, make_channels  # noqa: F401  (alert channels, a synchronous worker)
from tests.monitoring.conftest import make_rollup  # noqa: F401  (rollup rows to export)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"
WAIT_SECONDS = 15


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if absent:
        return f"{' and '.join(absent)} not installed (make system-deps installs chromium and chromium-driver)"
    return None


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole module: starting one costs more than most tests."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # --no-sandbox: CI runs as root, where Chromium refuses its sandbox; /dev/shm is small in containers
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-extensions", "--no-first-run", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


class AdminBrowser:
    """The admin as a person uses it: every step goes through the rendered page."""

    def __init__(self, driver, base_url: str):
        self.driver = driver
        self.base_url = base_url
        self.wait = WebDriverWait(driver, WAIT_SECONDS)

    # -- navigation ---------------------------------------------------------------------------------
    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def submit(self, button) -> None:
        """Click a button that posts the page, and wait until the next page has replaced it."""
        page = self.find("html")
        button.click()
        self._await_next_page(page)

    def _await_next_page(self, page) -> None:
        # the old page's root goes stale when the browser has navigated; then wait for the new one
        self.wait.until(ec.staleness_of(page))
        self.wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Through the real login form, as the user would."""
        self.open("/admin/login/?next=/admin/")
        self.find("#id_username").send_keys(username)
        self.find("#id_password").send_keys(password)
        self.submit(self.find("#login-form [type=submit]"))
        welcome = self.find_all("#user-tools strong")  # "Welcome, <name>." on every admin page
        assert welcome and welcome[0].get_attribute("textContent") == username, (
            f"login as {username} failed: {self.text('#content')}"
        )

    # -- reading the page ---------------------------------------------------------------------------
    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    @property
    def source(self) -> str:
        return self.driver.page_source

    def messages(self) -> list[str]:
        """The admin's message list (success, warning and error notes at the top of the page)."""
        return [item.text for item in self.find_all("ul.messagelist li")]

    def row(self, pk: int):
        """The changelist row of object `pk` (found by its link, which every viewer gets)."""
        return self.driver.find_element(
            By.XPATH, f"//table[@id='result_list']//tr[.//a[contains(@href, '/{pk}/change/')]]"
        )

    def cell(self, pk: int, column: str) -> str:
        return self.row(pk).find_element(By.CSS_SELECTOR, f".field-{column}").text

    def action_names(self) -> list[str]:
        """The actions this user is offered in the changelist's drop-down (none: no drop-down)."""
        return [option.get_attribute("value") for option in self.find_all("select[name=action] option")][1:]

    # -- acting -------------------------------------------------------------------------------------
    def run_action(self, action: str, *pks: int) -> None:
        """Tick the rows, choose the action, press "Go"."""
        for pk in pks:
            self.find(f"input[name=_selected_action][value='{pk}']").click()
        Select(self.find("select[name=action]")).select_by_value(action)
        self.submit(self.find("#changelist-form button[name=index]"))

    def post_form(self, path: str, fields: dict[str, str]) -> None:
        """Post `fields` to `path` from the current page with a form of our own making: what a
        user could send by editing the page, to prove the server refuses what the page hides."""
        page = self.find("html")
        self.driver.execute_script(
            """
            const form = document.createElement("form");
            form.method = "post";
            form.action = arguments[0];
            for (const [name, value] of Object.entries(arguments[1])) {
                const input = document.createElement("input");
                input.type = "hidden";
                input.name = name;
                input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
            """,
            path,
            fields,
        )
        self._await_next_page(page)


@pytest.fixture
def browser(chromium, live_server) -> AdminBrowser:
    """The module's browser with no cookies left by the previous test (whose database is gone)."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return AdminBrowser(chromium, live_server.url)


@pytest.fixture
def make_staff(transactional_db):
    """A staff member who signs in with PASSWORD, holding exactly the permissions and groups given."""

    def make(username: str, *permissions: str, groups=()) -> User:
        user = User.objects.create_user(username, f"{username}@wedsync.example", PASSWORD, is_staff=True)
        for label in permissions:
            app_label, codename = label.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        user.groups.add(*groups)
        return user

    return make
