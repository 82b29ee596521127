"""The web app in a real browser: headless Chromium uploads speech, presses Generate, a video plays;
the Live tab, fed a fake microphone, shows faces and their latency.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); skipped without them.
"""

import time

import pytest

from apb2face_jax.app import browser as chromium

pytestmark = pytest.mark.skipif(not chromium.available(),
                                reason="needs Debian's chromium and chromium-driver (apt-get install)")


@pytest.fixture()
def browser(speech):  # noqa: F811  (also the fake microphone's sound)
  driver = chromium.open_chromium(microphone=speech)
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
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top

  chromium.start_live(browser, served[2])
  figures = chromium.live_figures
  WebDriverWait(browser, 90).until(lambda d: "latency" in figures(d) and " 0 frames" not in figures(d))
  assert chromium.live_faces_shown(browser) == 1
  assert len(served[0].live_sessions) == 1
  browser.get("about:blank")  # the tab closes while recording: its stream and worker thread are let go
  WebDriverWait(browser, 60).until(lambda _: not served[0].live_sessions)
