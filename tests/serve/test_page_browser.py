"""The try-it page in a real headless Chromium (Debian's chromium + chromium-driver)."""

import shutil

import pytest


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def test_upload_an_image_and_see_the_prediction(server, digits, digits_run):
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("Debian packages chromium and chromium-driver are required (.ci/run installs them)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = sorted((digits / "test" / "7").glob("*.png"))[0]
    import lamina

    expected = lamina.load(digits_run).predict([str(image)])[0]["label"]
    driver = _browser()
    try:
        driver.get(server.url + "/")
        assert driver.find_element(By.CSS_SELECTOR, '[data-model="digits"] h2').text == "digits"
        driver.find_element(By.ID, "file-digits").send_keys(str(image))
        driver.find_element(By.ID, "run-digits").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#out-digits table.result tr"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#out-digits table.result tr")
        assert len(rows) == 5
        assert rows[0].find_elements(By.TAG_NAME, "td")[0].text == expected
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
