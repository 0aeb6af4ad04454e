"""The demo's tests."""

import os
import unittest

from app import greeting


class GreetingTest(unittest.TestCase):
    def test_uses_the_pipeline_env(self) -> None:
        assert os.environ.get("GREETING") == "Hello"
        assert greeting("knargo") == "Hello, knargo!"


if __name__ == "__main__":
    unittest.main()
