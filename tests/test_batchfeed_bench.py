"""The feed bench (stream_mlc.bench.feed) on the session's broker: it reports every scenario it ran."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _faust_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Faust creates its data directory in the working directory


def test_the_feed_bench_reports_every_scenario_it_ran(broker, capsys, tmp_path):
    from stream_mlc.bench import feed

    assert feed.main(["--messages", "400", "--broker", broker.bootstrap, "--scenarios", "batch-produce,raw"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    for scenario in ("batch-produce", "raw"):
        assert float(rows[scenario][1].replace(",", "")) > 0, rows  # msg/s, not an error
