"""A headless Chromium on `bitrag web` in a process of its own: the one browser every web UI test drives.

The web UI is started as a user starts it (`python -m bot.cli web`) after a seeding command has put documents in
its database (the web process then holds the Milvus Lite file). Every wait is for something the page shows, never
for a length of time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.conftest import ROOT
from tests.system import require

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
BITRAG = (sys.executable, "-m", "bot.cli")


class WebBrowser:
    """`bitrag web` on `port` with `settings` (over isolated defaults in `tmp_path`), after `seed` has run with the
    same environment, and a headless Chromium that has not loaded anything yet (`open`)."""

    def __init__(self, tmp_path: Path, port: int, settings: dict[str, str], seed: Sequence[str]) -> None:
        require(Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists(),
                "chromium chromium-driver")
        from selenium import webdriver

        self.tmp_path = tmp_path
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "MILVUS_URI": str(tmp_path / "milvus.db"), "LLM": "extractive",
                    "REGISTRY_URL": f"sqlite:///{tmp_path}/r.sqlite3", "FEEDBACK_URL": f"sqlite:///{tmp_path}/f.db",
                    "UPLOADS_DIR": str(tmp_path / "uploads"), "WEB_PORT": str(port), "METRICS_PORT": "0",
                    "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **settings}
        subprocess.run(list(seed), env=self.env, cwd=tmp_path, check=True, capture_output=True)
        self.server = subprocess.Popen([*BITRAG, "web"], env=self.env, cwd=tmp_path, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,1600"):
            options.add_argument(flag)
        try:
            self.driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
        except BaseException:
            self._stop_server()
            raise

    def open(self) -> None:
        """Load the first page once the server listens (it prints its address before it does)."""
        deadline = time.monotonic() + 90
        while True:
            try:
                self.driver.get(f"{self.base}/")
                return
            except Exception:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise
                time.sleep(0.5)  # the next attempt to connect, not a wait for the page

    def text(self) -> str:
        """The page's text; "" while the browser is between pages (a redirect of the sign-in, a redraw)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By

        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:
            return ""

    def wait_until(self, condition: Callable[[], object], timeout: float = 90) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(lambda _: condition())

    def wait_for_text(self, needle: str, timeout: float = 90) -> str:
        self.wait_until(lambda: needle in self.text(), timeout)
        return self.text()

    def idle(self) -> bool:
        """Whether Streamlit has finished running the page's script (its running indicator is gone)."""
        from selenium.webdriver.common.by import By

        return not self.driver.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidgetRunningIcon']")

    def click(self, label: str) -> None:
        """Click the element whose text is `label`, once the page shows it."""
        self._click(f"//*[text()='{label}']")

    def go_to(self, page: str) -> None:
        """Choose a page in the sidebar's radio buttons."""
        self._click(f"//div[@data-testid='stRadio']//label[.//p[text()='{page}']]")

    def _click(self, xpath: str) -> None:
        """Streamlit redraws elements while a script runs, so a click that lands on a replaced element is tried
        again until one lands."""
        from selenium.webdriver.common.by import By

        def clicked() -> bool:
            try:
                self.driver.find_element(By.XPATH, xpath).click()
                return True
            except Exception:
                return False

        self.wait_until(clicked, 60)

    def submit(self, question: str) -> None:
        """Type a question into the chat box and send it (without waiting for the answer)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = "textarea[data-testid='stChatInputTextArea']"
        self.wait_until(lambda: self.driver.find_elements(By.CSS_SELECTOR, box), 60)
        self.driver.find_element(By.CSS_SELECTOR, box).send_keys(question, Keys.ENTER)

    def ask(self, question: str) -> str:
        """Ask and return the page once the answer (cited, or "I don't know") is shown and the script is done."""
        before = self.text().count("Sources")
        self.submit(question)
        self.wait_until(lambda: (self.text().count("Sources") > before or "I don't know" in self.text())
                        and self.idle())
        return self.text()

    def close(self) -> None:
        try:
            self.driver.save_screenshot(str(self.tmp_path / "last.png"))
            self.driver.quit()
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
