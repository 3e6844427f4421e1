"""Parts of the scaled-mode worker, without a broker: packing, snapshot loading, the learner's offsets."""

from __future__ import annotations

import asyncio
import hashlib
from types import SimpleNamespace

import orjson
import pytest

from stream_mlc.core.events import FeatureEvent, LabelEvent
from stream_mlc.core.snapshot import dumps
from stream_mlc.service import scaled
from stream_mlc.service.scaled import ScaledService
from stream_mlc.settings import Settings
from stream_mlc.wire import encode_labels, encode_scored, pack_records, unpack_records


class FakeSink:
    """Keeps what is sent; hands back an already delivered future, as the producer would."""

    def __init__(self):
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, key=None, value=None):
        self.sent.append((key, value))
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


@pytest.fixture
def service() -> ScaledService:
    worker = ScaledService(Settings.from_env(environ={}, mode="scaled", labels="a,b"))
    worker.topics = {name: FakeSink() for name in worker.topics}
    return worker


def test_records_are_packed_in_order_into_messages_of_bounded_size(service, monkeypatch):
    monkeypatch.setattr(scaled, "LEARN_MESSAGE_BYTES", 1000)
    records = [orjson.dumps({"kind": "labels", "id": str(i), "pad": "x" * (i % 7) * 40}) for i in range(60)]
    asyncio.run(service._forward(records))
    messages = [value for _, value in service.topics["learn"].sent]
    assert len(messages) > 1
    assert all(len(message) <= 1000 + 20 for message in messages)  # + the {"records":[...]} envelope
    assert [record for message in messages for record in unpack_records(message)] == [orjson.loads(r) for r in records]


def test_a_broken_snapshot_is_logged_and_the_current_model_kept(service, caplog):
    before = service.model
    service._load_manifest(b'{"slot": 0, "chunks": 1, "sha256": "00", "learned": 9, "created": 0}', {})
    assert service.model is before
    assert "cannot be loaded" in caplog.text


def test_the_newest_snapshot_is_loaded_even_with_a_lower_version(service):
    service.engine.learned = 50
    newer = dumps(service.engine.snapshot())
    service._load_manifest(*published(newer, slot=1))
    assert service.model.version == 50
    service.engine.learned = 20  # a new learner, resumed from an older checkpoint, published this
    service._load_manifest(*published(dumps(service.engine.snapshot()), slot=0))
    assert service.model.version == 20 and service._snapshot_slot == 0


def published(data: bytes, slot: int) -> tuple[bytes, dict[bytes, bytes]]:
    manifest = {"slot": slot, "chunks": 1, "sha256": hashlib.sha256(data).hexdigest(), "learned": 0, "created": 0}
    return orjson.dumps(manifest), {f"stream-mlc/model/{slot}/0".encode(): data}


def test_the_learner_skips_what_its_restored_state_reflects_and_learns_the_rest(service):
    event = FeatureEvent("e1", {"x": 1.0})
    prediction = service.engine.prediction(event, now=0.0)
    scored = pack_records([encode_scored(event, prediction, 1.0)])
    labels = pack_records([encode_labels(LabelEvent("e1", frozenset({"a"})), 2.0)])
    service.learning = True
    service.processed = {service.learn_lane: 1}  # offset 0 is already in the state
    batch = [message(0, labels), message(1, scored), message(2, labels)]
    asyncio.run(service.learn_batch(batch))
    assert service.engine.learned == 1
    assert service.processed[service.learn_lane] == 3
    assert [orjson.loads(value)["id"] for _, value in service.topics["training"].sent] == ["e1"]


def test_a_revoked_learner_leaves_the_rest_of_its_batch_alone(service):
    service.learning = False
    asyncio.run(service.learn_batch([message(0, pack_records([]))]))
    assert service.processed.get(service.learn_lane) is None


def message(offset: int, value: bytes):
    learn = SimpleNamespace(topic="mlc.learn", partition=0, offset=offset)
    return SimpleNamespace(value=value, key=None, message=learn)
