"""The page in a real browser: headless Chromium driven by Selenium, for the browser tests and bench/live.py.

Needs Debian's `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`).
A fake microphone plays a sound file (Chromium loops it) so the Live tab can be
used without a person.
"""

import shutil
from pathlib import Path
from typing import Any

from apb2face_jax.errors import UserError

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500",
                  "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
                  "--use-fake-device-for-media-stream")


def available() -> bool:
  """Whether Chromium and its WebDriver are installed."""
  return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def open_chromium(microphone: Path | None = None) -> Any:
  """A headless Chromium WebDriver; `microphone`: a WAV file the fake microphone plays."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top

  if not available():
    raise UserError("headless Chromium is not installed: apt-get install chromium chromium-driver.")
  options = webdriver.ChromeOptions()
  for flag in CHROMIUM_FLAGS:
    options.add_argument(flag)
  if microphone is not None:
    options.add_argument(f"--use-file-for-fake-audio-capture={microphone}")
  options.binary_location = shutil.which("chromium")
  return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def start_live(driver: Any, url: str, timeout_s: float = 60) -> None:
  """Opens the page's Live tab and presses Record (the fake microphone starts streaming)."""
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=g-import-not-at-top

  driver.get(url)
  wait = WebDriverWait(driver, timeout_s)
  tab = wait.until(lambda d: d.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Live')]"))
  driver.execute_script("arguments[0].click()", tab)
  record = wait.until(lambda d: next((b for b in d.find_elements(By.XPATH, "//button[contains(., 'Record')]")
                                      if b.is_displayed()), None))
  driver.execute_script("arguments[0].click()", record)


def live_figures(driver: Any) -> str:
  """The Live tab's latency and frames/s line as the page shows it."""
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  return driver.find_element(By.CSS_SELECTOR, "#live_figures").text


def live_faces_shown(driver: Any) -> int:
  """How many face images the Live tab shows (1 once the first face has come)."""
  return driver.execute_script("return document.querySelectorAll('#live_face img').length")
