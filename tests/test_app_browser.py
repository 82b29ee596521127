"""The web app in a real browser: headless Chromium uploads speech, presses Generate, a video plays;
the Live tab, fed a fake microphone, shows faces and their latency.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); skipped without them.
"""

import shutil
import time

import pytest


CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMEDRIVER and shutil.which("chromium")),
                                reason="needs Debian's chromium and chromium-driver (apt-get install)")


@pytest.fixture()
def browser(speech):  # noqa: F811  (also the fake microphone's sound)
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top

  options = webdriver.ChromeOptions()
  for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500",
               "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
               "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={speech}"):
    options.add_argument(flag)
  options.binary_location = shutil.which("chromium")
  driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
  yield driver
  driver.quit()


def test_upload_generate_and_the_video_plays(served, speech, browser, tmp_path):  # noqa: F811
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support import expected_conditions  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top

  browser.get(served[2])
  wait = WebDriverWait(browser, 60)
  upload = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#speech input[type=file]")))
  upload.send_keys(str(speech))
  wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#speech audio, #speech .waveform-container")))
  time.sleep(1.0)  # the upload finishes before the button's inputs are read
  browser.find_element(By.CSS_SELECTOR, "#generate").click()
  playable = ("const v = document.querySelector('#video video');"
              "return v !== null && v.readyState >= 2 && v.duration > 1.5 && !v.error;")
  WebDriverWait(browser, 120).until(lambda d: d.execute_script(playable))
  assert "frames/s" in browser.find_element(By.CSS_SELECTOR, "#figures").text
  browser.execute_script("window.scrollTo(0, 0);")
  screenshot = tmp_path / "app.png"
  assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def test_live_tab_shows_faces_and_their_latency(served, browser):  # noqa: F811
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top

  browser.get(served[2])
  wait = WebDriverWait(browser, 60)
  tab = wait.until(lambda d: d.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Live')]"))
  browser.execute_script("arguments[0].click()", tab)
  record = wait.until(lambda d: next((b for b in d.find_elements(By.XPATH, "//button[contains(., 'Record')]")
                                      if b.is_displayed()), None))
  browser.execute_script("arguments[0].click()", record)
  figures = lambda d: d.find_element(By.CSS_SELECTOR, "#live_figures").text  # noqa: E731
  WebDriverWait(browser, 90).until(lambda d: "latency" in figures(d) and not figures(d).endswith("; 0 frames"))
  assert browser.execute_script("return document.querySelectorAll('#live_face img').length") == 1
