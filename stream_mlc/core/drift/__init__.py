"""Drift monitoring: pure, pickle-able detectors whose findings are :class:`~stream_mlc.core.alerts.Alert`.

One concept per module: :mod:`.concept` (ADWIN on error streams), :mod:`.psi` (population
stability index of sparse dict-valued events), :mod:`.rates` (two-proportion tests on label
rates), :mod:`.subjects` (the subjects a tracker follows, shared by the last two and
:mod:`.scores`), :mod:`.monitor` (:class:`DriftMonitor`, what the service calls), with
:mod:`.findings` (its windows' closing, levels and recoveries as alerts) and :mod:`.messages`
(their texts), and :mod:`.settings` (:class:`DriftSettings`). Nothing here imports Faust or Kafka.
"""

from stream_mlc.core.drift.monitor import DriftMonitor
from stream_mlc.core.drift.settings import DriftSettings

__all__ = ["DriftMonitor", "DriftSettings"]
