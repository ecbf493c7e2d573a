"""The try-it page in a real headless Chromium (Debian's chromium + chromium-driver)."""

from helpers import chromium_driver


def test_upload_an_image_and_see_the_prediction(server, digits, digits_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = sorted((digits / "test" / "7").glob("*.png"))[0]
    import lamina

    expected = lamina.load(digits_run).predict([str(image)])[0]["label"]
    driver = chromium_driver()
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
