"""Operations tests: bin/replay, worker metrics, logs, shutdown and deployment files. The
`pipeline` fixture (real workers in the test process) is shared with tests/pipeline."""

from tests.support.pipeline import Pipeline, pipeline  # noqa: F401
