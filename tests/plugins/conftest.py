from pathlib import Path

import numpy as np
import pytest

from spark.engine import Candles
from spark.service.datafiles import load_candles

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="session")
def goog() -> Candles:
    return load_candles(DATA / "GOOG.csv")


@pytest.fixture(scope="session")
def goog_close(goog: Candles) -> np.ndarray:
    return np.asarray(goog.close)
