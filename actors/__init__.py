"""The worker side of Kiln. `dramatiq actors` imports this package: the broker is configured
from the environment, then every stage actor is declared on Kiln's one queue, and this host's
own queue is declared next to it (actors/hosts.py): a worker consumes every declared queue."""

from domain.logs import configure_logging
from domain.settings import Settings

configure_logging(Settings.from_env().log_format)

from actors.sandbox.policy import refuse_unisolated  # noqa: E402

refuse_unisolated(Settings.from_env())  # before any actor can run untrusted code unisolated

from actors.broker import make_broker  # noqa: E402

broker = make_broker(Settings.from_env())

from actors import stages, wake  # noqa: E402, F401  (declare the stage and wake actors)
from actors.hosts import own_queue  # noqa: E402

broker.declare_queue(own_queue())
from actors.housekeeping import Housekeeping  # noqa: E402

broker.add_middleware(Housekeeping())
