"""The mock services as real processes, started the way the mock tests start them.

tests/mocks is not a package, so its process helpers are loaded by path, under
the module name its own conftest imports them as.
"""

import importlib.util
import sys
from pathlib import Path

_NAME = "mock_processes"
_PATH = Path(__file__).resolve().parents[1] / "mocks" / f"{_NAME}.py"


def _load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


mock_processes = _load()
