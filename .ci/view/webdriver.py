"""WebDriver part of the view browser tier: Debian's chromium-driver drives headless Chromium
through the pages `llm-do view` serves for the log run.sh generated, as a person clicks them:
the runs page, a run (its call tree opened by a click on a `<details>` summary, which needs no
script), the names page, and the page of the `[stabilize]` switch `triage` with its agreement
chart and a disputed input. Every request the browser made must have gone to the page's own
server (Chromium's performance log lists them), and no Content Security Policy violation may
have been reported. Screenshots go to SHOTS.

    python webdriver.py URL SHOTS PROFILE
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def fail(why):
    print(f"error: view WebDriver tier: {why}", file=sys.stderr)
    sys.exit(1)


def check(ok, why):
    if not ok:
        fail(why)


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("LLM_DO_CHROMIUM", "/usr/bin/chromium")
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1100,800",
    ]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # The distribution's driver, named: Selenium Manager never downloads one.
    driver = os.environ.get("LLM_DO_CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=Service(executable_path=driver))


def requests_made(driver):
    """URLs of every request the browser sent since the last call (performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def main():
    url, shots, profile = sys.argv[1:4]
    base = url.split("/?token=")[0] + "/"
    driver = browser(profile)
    requests = []
    try:
        # The runs page: the three runs run.sh made, newest (the hostile greeting) first.
        driver.get(url)
        check(driver.title == "Runs · llm-do view", f"runs page title: {driver.title!r}")
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.run")
        check(len(rows) == 3, f"three runs listed, not {len(rows)}")
        rows[0].find_element(By.CSS_SELECTOR, "a").click()

        # A run: its tree is closed until a summary is clicked, then shows the output as text.
        check(driver.title.startswith("Run "), f"run page title: {driver.title!r}")
        calls = driver.find_elements(By.CSS_SELECTOR, "details.call")
        check(len(calls) == 2, f"two calls in the tree, not {len(calls)}")
        output = calls[0].find_element(By.CSS_SELECTOR, "pre.output")
        check(calls[0].get_attribute("open") is None, "the tree starts closed")
        check(not output.is_displayed(), "a closed call hides its output")
        calls[0].find_element(By.TAG_NAME, "summary").click()
        check(calls[0].get_attribute("open") is not None, "a click opens the call")
        check(output.is_displayed(), "an opened call shows its output")
        check(
            output.text.startswith('test reply: <img src=x onerror="document.body'),
            f"the hostile output shown as text: {output.text!r}",
        )
        body = driver.find_element(By.TAG_NAME, "body")
        check(body.get_attribute("data-pwned") is None, "the hostile onerror ran")
        check("pwned" not in driver.title, "the hostile script ran")
        driver.save_screenshot(os.path.join(shots, "view-run-open.png"))
        requests += requests_made(driver)

        # The names page, then the switch's own page.
        driver.find_element(By.LINK_TEXT, "Names").click()
        check(driver.title == "Names · llm-do view", f"names page title: {driver.title!r}")
        driver.find_element(By.LINK_TEXT, "triage").click()
        check(driver.title == "Name triage · llm-do view", f"name page title: {driver.title!r}")
        switch = driver.find_element(By.ID, "switch").text
        check(
            switch == "shadow · live agreement 4/6 (66.7%) · deferred 2/8 (25.0%)",
            f"the switch's figures: {switch!r}",
        )
        chart = driver.find_element(By.ID, "agreement")
        check(chart.is_displayed(), "the agreement chart is drawn")
        points = chart.find_elements(By.CSS_SELECTOR, "circle.run")
        check(len(points) == 2, f"a point per run, not {len(points)}")
        check(len(chart.find_elements(By.CSS_SELECTOR, "line.floor")) == 1, "the noise floor line")
        floor = driver.find_element(By.ID, "floor").text
        check(floor.startswith("noise floor 2/2 (100.0%)"), f"the noise floor: {floor!r}")
        heading = driver.find_element(By.ID, "disputes").text
        check(heading == "Disputed inputs (2 of 2)", f"disputes heading: {heading!r}")
        dispute = driver.find_elements(By.CSS_SELECTOR, "div.dispute")[0]
        check('"slow page"' in dispute.find_element(By.CSS_SELECTOR, "pre.input").text,
              "the disputed input")
        cells = [
            td.text
            for td in dispute.find_elements(By.CSS_SELECTOR, "tr.differs td")
        ]
        check(cells == ["category", "bug", "feature"], f"worker and fn side by side: {cells}")
        # The whole page, chart and disputes, in one picture.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, min(max(height, 800), 2400))
        driver.save_screenshot(os.path.join(shots, "view-name.png"))
        requests += requests_made(driver)

        # No network: every request went to the page's own server; nothing was refused by
        # the Content Security Policy (which would mean the page tried to load or run it).
        check(
            len([u for u in requests if u.startswith(base)]) >= 4,
            f"the performance log saw the page loads: {requests}",
        )
        # (Chromium's own new tab page, `chrome://` and `data:` are not the network.)
        network = [u for u in requests if u.split(":", 1)[0] in ("http", "https", "ws", "wss")]
        elsewhere = [u for u in network if not u.startswith(base)]
        check(not elsewhere, f"requests outside the page's server: {elsewhere}")
        refused = [
            e["message"]
            for e in driver.get_log("browser")
            if "Content Security Policy" in e["message"]
        ]
        check(not refused, f"CSP violations: {refused}")
    finally:
        driver.quit()
    print(f"view WebDriver tier: ok (every request to {base})")


if __name__ == "__main__":
    main()
