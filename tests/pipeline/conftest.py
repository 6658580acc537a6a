"""The `pipeline` fixture (tests/support/pipeline.py): real workers in the test process."""

from tests.support.pipeline import Pipeline, pipeline  # noqa: F401
