"""Makes docs/serve.png, the README's picture of the page: the real 1999 sessions and
the hostile one found by a CIDR query, the histogram, and two sessions side by side.

    .build/web-venv/bin/python Tests/web/screenshot.py    # needs selenium; pillow to shrink it
"""

import urllib.parse

import harness
from test_page import chrome_paths
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

OUT = harness.REPO / "docs" / "serve.png"

data = harness.DataDir.create()
try:
    with harness.Server(data.index) as server:
        ids = [server.get_json("/api/v1/sessions?q=" + urllib.parse.quote(q))["sessions"][0]["id"]
               for q in ("line:509 date:1999-04-28", "line:750 date:1999-04-29")]
        browser, driver = chrome_paths()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars"):
            options.add_argument(a)
        b = webdriver.Chrome(service=Service(driver), options=options)
        try:
            b.get(server.url + "/?q=" + urllib.parse.quote("ip:0.0.0.0/0 until:1999-12-31") + f"&compare={ids[0]},{ids[1]}")
            WebDriverWait(b, 20).until(lambda d: d.execute_script("return document.body.dataset.ready || ''"))
            b.save_screenshot(str(OUT))
        finally:
            b.quit()
finally:
    data.cleanup()
try:
    from PIL import Image
    Image.open(OUT).convert("RGB").quantize(colors=64).save(OUT, optimize=True)
except ImportError:
    pass
print(OUT, OUT.stat().st_size, "bytes")
