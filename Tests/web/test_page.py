"""The web page of `maildex serve` in a real headless browser (Debian's chromium and
chromium-driver, selenium from PyPI; scripts/test-web.sh installs them).

Screenshots go to $MAILDEX_ARTIFACTS (default .build/web-artifacts); no pixel is
compared. A script the hostile log could run would set the document title to
`pwned`: every test checks it did not.
"""

import json
import os
import shutil
import unittest
import urllib.parse
from pathlib import Path

import harness

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - scripts/test-web.sh installs it
    webdriver = None

ARTIFACTS = Path(os.environ.get("MAILDEX_ARTIFACTS") or harness.REPO / ".build" / "web-artifacts")


def chrome_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    return browser, driver if Path(driver).exists() else None


@unittest.skipIf(webdriver is None and not os.environ.get("MAILDEX_WEB_REQUIRED"), "selenium is not installed")
class PageTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if webdriver is None:
            raise RuntimeError("selenium is not installed (scripts/test-web.sh installs it)")
        browser, driver = chrome_paths()
        if not browser or not driver:
            raise RuntimeError("chromium and chromium-driver are needed (scripts/test-web.sh installs them)")
        cls.data = harness.DataDir.create()
        cls.server = harness.Server(cls.data.index).start()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1400,1000", "--no-proxy-server"):
            options.add_argument(a)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.browser = webdriver.Chrome(service=Service(driver), options=options)
        cls.browser.set_page_load_timeout(30)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.browser.quit()
        finally:
            code = cls.server.stop()
            cls.data.cleanup()
        assert code == 0, f"maildex serve exited {code}"

    # ---- helpers ----

    def tearDown(self):
        # Nothing from the logs ran as script.
        self.assertEqual(self.browser.title, "maildex")
        errors = [e for e in self.browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
                  and "the server responded with a status of 400" not in e["message"]]
        self.assertEqual(errors, [], "errors in the browser's console")

    def ready_stamp(self):
        return self.browser.execute_script("return document.body.dataset.ready || ''")

    def wait_render(self, before):
        WebDriverWait(self.browser, 20).until(lambda b: self.ready_stamp() not in ("", before))

    def open(self, query_string=""):
        self.browser.get(self.server.url + "/" + query_string)
        self.wait_render("")

    def by_id(self, name):
        return self.browser.find_element(By.ID, name)

    def rows(self):
        return self.browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")

    def row_ids(self):
        return self.browser.execute_script("return [...document.querySelectorAll('#results tbody tr')].map(r => r.dataset.id)")

    def press(self, *keys):
        """Keys to whatever has the focus, as a user types them."""
        ActionChains(self.browser).send_keys(*keys).perform()

    def shot(self, name):
        self.browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def cli_count(self, q):
        p = harness.run("query", "--index", self.data.index, "--count", *q.split(), check=False)
        return int(p.stdout.decode().strip() or "0")

    def search(self, q):
        before = self.ready_stamp()
        box = self.by_id("q")
        box.clear()
        box.send_keys(q, Keys.ENTER)
        self.wait_render(before)

    def session_id(self, q):
        return self.server.get_json("/api/v1/sessions?q=" + urllib.parse.quote(q))["sessions"][0]["id"]

    # ---- tests ----

    def test_permalink_shows_results_at_once(self):
        self.open("?q=" + urllib.parse.quote("ip:209.162.104.65"))
        self.assertEqual(self.by_id("q").get_attribute("value"), "ip:209.162.104.65")
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        self.assertEqual(cells[1:6], ["1999-04-28", "21:30:41–21:30:51", "509", "209.162.104.65:1957", "desk98"])
        self.assertEqual(self.by_id("total").get_attribute("data-total"), "1")
        self.shot("permalink")

    def test_typed_query_counts_as_the_command_line_does(self):
        self.open()
        for q in ("since:1999-01-01", "domain:hypertouch.com", "ip:10.0.0.0/8 since:2000-01-01"):
            self.search(q)
            self.assertEqual(int(self.by_id("total").get_attribute("data-total")), self.cli_count(q), q)
            self.assertEqual(urllib.parse.parse_qs(urllib.parse.urlparse(self.browser.current_url).query)["q"], [q])

    def test_syntax_error_is_shown_inline(self):
        self.open()
        self.search("bogus:x")
        error = self.by_id("error")
        self.assertTrue(error.is_displayed())
        self.assertIn("bogus", self.by_id("error-text").text)
        self.assertIn("ip:", self.by_id("error-hint").get_attribute("textContent"))
        self.search("ip:209.162.104.65")
        self.assertFalse(self.by_id("error").is_displayed())

    def test_paging_with_the_cursor_and_back(self):
        q = "since:1999-01-01"
        total = self.cli_count(q)
        self.assertGreater(total, 200)
        self.open("?q=" + urllib.parse.quote(q))
        first_page = [r.get_attribute("data-id") for r in self.rows()]
        self.assertEqual(len(first_page), 100)
        before = self.ready_stamp()
        self.by_id("next").click()
        self.wait_render(before)
        second_page = [r.get_attribute("data-id") for r in self.rows()]
        self.assertEqual(len(second_page), 100)
        self.assertFalse(set(first_page) & set(second_page))
        self.assertIn("cursor=", self.browser.current_url)
        # Reloading a page by its permalink gives the same rows.
        url = self.browser.current_url
        self.browser.get(url)
        self.wait_render("")
        self.assertEqual([r.get_attribute("data-id") for r in self.rows()], second_page)
        # "previous" works from the permalink too: the URL holds the earlier cursors.
        before = self.ready_stamp()
        self.by_id("prev").click()
        self.wait_render(before)
        self.assertEqual(self.row_ids(), first_page)
        self.assertNotIn("cursor=", self.browser.current_url)
        before = self.ready_stamp()
        self.browser.back()
        self.wait_render(before)
        self.assertEqual(self.row_ids(), second_page)
        before = self.ready_stamp()
        self.browser.back()
        self.wait_render(before)
        self.assertEqual(self.row_ids(), first_page)
        # Newest first is the same answer reversed.
        self.by_id("order").send_keys("newest")
        WebDriverWait(self.browser, 20).until(lambda b: "order=newest" in b.current_url)
        self.wait_render(before)
        api = self.server.get_json("/api/v1/sessions?order=newest&q=" + urllib.parse.quote(q))
        WebDriverWait(self.browser, 20).until(lambda b: self.row_ids() == [s["id"] for s in api["sessions"]])

    def test_histogram_bar_narrows_the_query(self):
        q = "since:2000-01-01"
        self.open("?q=" + urllib.parse.quote(q))
        bars = [b for b in self.browser.find_elements(By.CSS_SELECTOR, "#histogram rect.bar")
                if int(b.get_attribute("data-sessions")) > 0]
        self.assertGreaterEqual(len(bars), 2)
        terms, sessions = bars[0].get_attribute("data-terms"), int(bars[0].get_attribute("data-sessions"))
        before = self.ready_stamp()
        bars[0].click()
        self.wait_render(before)
        self.assertEqual(self.by_id("q").get_attribute("value"), q + " " + terms)
        self.assertEqual(int(self.by_id("total").get_attribute("data-total")), sessions)
        self.assertEqual(sessions, self.cli_count(q + " " + terms))

    def test_session_view_with_provenance_and_evidence(self):
        sid = self.session_id("line:509 date:1999-04-28")
        self.open("?q=" + urllib.parse.quote("ip:209.162.104.65"))
        before = self.ready_stamp()
        self.rows()[0].click()
        self.wait_render(before)
        self.assertIn("open=" + sid, self.browser.current_url)
        view = self.by_id("session")
        self.assertTrue(view.is_displayed())
        self.assertEqual(self.by_id("session-status").text, "complete")
        lines = self.browser.find_elements(By.CSS_SELECTOR, "#transcript .line")
        cli = harness.run("query", "--index", self.data.index, "--json", "line:509", "date:1999-04-28").stdout
        expected = json.loads(cli)["lines"]
        self.assertEqual([l.find_element(By.CLASS_NAME, "text").get_attribute("textContent") for l in lines], expected)
        # The query's match is highlighted.
        marks = [m.text for m in self.browser.find_elements(By.CSS_SELECTOR, "#transcript mark")]
        self.assertIn("209.162.104.65", marks)
        # Provenance: hidden until toggled.
        prov = lines[3].find_element(By.CLASS_NAME, "prov")
        self.assertFalse(prov.is_displayed())
        self.by_id("provenance-toggle").click()
        self.assertTrue(prov.is_displayed())
        self.assertRegex(prov.text, r"^1999-04-28\.log:4:\d+:$")
        # What became of its message: the records about S.0000014724, under the transcript.
        self.assertTrue(self.by_id("trail").is_displayed())
        trail = [l.find_element(By.CLASS_NAME, "text").get_attribute("textContent")
                 for l in self.browser.find_elements(By.CSS_SELECTOR, "#trail .line")]
        with_messages = harness.run("query", "--index", self.data.index, "--json", "--messages", "line:509", "date:1999-04-28").stdout
        self.assertEqual(trail, json.loads(with_messages)["messageLines"])
        self.assertEqual(len(trail), 4)
        self.assertIn("direction: in", self.by_id("session-facts").text)
        link = self.by_id("evidence-link").get_attribute("href")
        status, _, body = harness.http(link)
        self.assertEqual(status, 200)
        self.assertEqual(body, harness.run("query", "--index", self.data.index, "--evidence", "--messages", "line:509", "date:1999-04-28").stdout)
        self.shot("session")
        # Reloading restores the open session.
        self.browser.refresh()
        self.wait_render("")
        self.assertTrue(self.by_id("session").is_displayed())
        self.assertEqual(len(self.browser.find_elements(By.CSS_SELECTOR, "#transcript .line")), len(expected))

    def test_outbound_session_shows_its_server_direction_and_trail(self):
        self.open("?q=" + urllib.parse.quote("server:relay direction:out"))
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        self.assertEqual(cells[-1], "relay · out")
        before = self.ready_stamp()
        rows[0].click()
        self.wait_render(before)
        facts = self.by_id("session-facts").text
        for want in ["server: relay", "direction: out", "TLS: no", "messages: 113457753"]:
            self.assertIn(want, facts)
        raw = (harness.FIXTURES / "cgp-real" / "relay" / "2026-01-28.log").read_text().splitlines()
        trail = [l.find_element(By.CLASS_NAME, "text").get_attribute("textContent")
                 for l in self.browser.find_elements(By.CSS_SELECTOR, "#trail .line")]
        self.assertEqual(trail, [l for l in raw if "SMTP-004929" not in l])
        self.assertIn("7 records", self.by_id("trail-title").text)

    def test_compare_two_sessions_side_by_side(self):
        a, b = self.session_id("line:509 date:1999-04-28"), self.session_id("line:750 date:1999-04-29")
        self.open("?q=" + urllib.parse.quote("to:recipes@hypertouch.com"))
        rows = {r.get_attribute("data-id"): r for r in self.rows()}
        for sid in (a, b):
            rows[sid].find_element(By.CLASS_NAME, "pick").click()
        before = self.ready_stamp()
        self.by_id("compare-button").click()
        self.wait_render(before)
        self.assertIn("compare=" + urllib.parse.quote(f"{a},{b}"), self.browser.current_url)
        self.check_comparison()
        self.shot("compare")
        self.browser.refresh()
        self.wait_render("")
        self.check_comparison()

    def check_comparison(self):
        self.assertTrue(self.by_id("compare").is_displayed())
        phases = [r.get_attribute("data-phase") for r in self.browser.find_elements(By.CSS_SELECTOR, "#compare-table tr[data-phase]")]
        self.assertEqual(phases, ["connection", "greeting", "helo", "mail", "rcpt 1", "data", "accepted", "quit", "close"])
        facts = {r.find_element(By.TAG_NAME, "th").text: r for r in self.browser.find_elements(By.CSS_SELECTOR, "#compare-facts tr")[1:]}
        self.assertIn("differs", facts["peer"].get_attribute("class"))
        self.assertIn("differs", facts["HELO"].get_attribute("class"))
        self.assertNotIn("differs", facts["recipients"].get_attribute("class"))
        self.assertEqual(facts["direction"].find_elements(By.TAG_NAME, "td")[0].text, "in")
        self.assertNotIn("differs", facts["TLS"].get_attribute("class"))
        helo = self.browser.find_element(By.CSS_SELECTOR, "#compare-table tr[data-phase=helo]")
        self.assertTrue(helo.find_elements(By.CSS_SELECTOR, ".line.differs"))
        cells = helo.find_elements(By.TAG_NAME, "td")
        self.assertIn("HELO desk98", cells[0].text)
        self.assertIn("Made-Up-Name-desk98", cells[1].text)

    def test_hostile_log_bytes_show_as_text(self):
        sid = self.session_id(f"ip:{harness.HOSTILE_IP}")
        other = self.session_id("line:509 date:1999-04-28")
        self.open("?q=" + urllib.parse.quote(f"ip:{harness.HOSTILE_IP}") + "&open=" + sid)
        cells = [c.text for c in self.rows()[0].find_elements(By.TAG_NAME, "td")]
        self.assertEqual(cells[5], harness.HOSTILE_HELO)
        self.assertEqual(cells[6], harness.HOSTILE_FROM)
        transcript = self.by_id("transcript").text
        self.assertIn(harness.HOSTILE_HELO, transcript)
        self.assertIn("<script>document.title='pwned'</script>", transcript)
        self.assertIn(harness.HOSTILE_HELO, self.by_id("session-title").text)
        self.open(f"?compare={sid},{other}")
        self.assertIn(harness.HOSTILE_HELO, self.by_id("compare-table").text)
        self.assertIn(harness.HOSTILE_FROM, self.by_id("compare-facts").text)
        # No element came from the log: no image, no script but the page's own.
        self.assertEqual(self.browser.find_elements(By.CSS_SELECTOR, "main img, main script, header img"), [])
        scripts = [s.get_attribute("src") for s in self.browser.find_elements(By.TAG_NAME, "script")]
        self.assertEqual(scripts, [self.server.url + "/app.js"])
        self.shot("hostile")

    def test_keyboard_only(self):
        self.open()
        self.browser.find_element(By.TAG_NAME, "body").click()
        self.press("/")
        self.assertEqual(self.browser.switch_to.active_element.get_attribute("id"), "q")
        before = self.ready_stamp()
        self.press("to:recipes@hypertouch.com", Keys.ENTER)
        self.wait_render(before)
        self.assertEqual(len(self.row_ids()), self.cli_count("to:recipes@hypertouch.com"))
        self.press(Keys.ESCAPE, "j")
        self.assertEqual(self.browser.switch_to.active_element.tag_name, "tr")
        self.press("x", "j", "x")
        self.assertEqual(len(self.browser.find_elements(By.CSS_SELECTOR, "#results .pick:checked")), 2)
        before = self.ready_stamp()
        self.press("c")
        self.wait_render(before)
        self.assertTrue(self.by_id("compare").is_displayed())
        before = self.ready_stamp()
        self.press(Keys.ESCAPE)
        self.wait_render(before)
        self.assertFalse(self.by_id("compare").is_displayed())
        # Enter on a row opens it.
        self.browser.execute_script("document.querySelector('#results tbody tr').focus()")
        before = self.ready_stamp()
        self.press(Keys.ENTER)
        self.wait_render(before)
        self.assertTrue(self.by_id("session").is_displayed())

if __name__ == "__main__":
    unittest.main()
