"""An application resend (issue 24, item 1): a producer restarted after a crash sends again what
it never saw confirmed, with the same message id; a consumer that dedupes on that id stores each
message once. On the session's real brokers."""
from __future__ import annotations

import pytest

from deliverylab.crash import CrashSpec
from deliverylab.experiments import ConsumerExperiment, ProducerExperiment, run_consumer, run_producer


@pytest.mark.kafka
def test_a_restarted_producer_resends_what_it_never_saw_confirmed(cluster):
    s = run_producer(ProducerExperiment(messages=150, rate=500, config={"enable.idempotence": True},
                                        crash=CrashSpec("before-flush", at=(25, 75, 125)), resend=True),
                     cluster).summary
    assert s["crashes"] == 3 and s["resent"] > 0
    # in the end every message was confirmed: nothing lost; only a resent message can be stored
    # twice (the idempotent producer's own retries are not)
    assert s["acked"] == s["sent"] == 150 and s["lost"] == 0 and s["acked_but_lost"] == 0
    assert s["duplicated"] <= s["resent"] and s["stored_records"] == 150 + s["duplicated"]
    # each kill waited until the log held a message it had not seen confirmed: the resend stored
    # at least one copy per kill
    assert len(s["unconfirmed_per_crash"]) == 3 and min(s["unconfirmed_per_crash"]) > 0
    assert s["duplicated"] > 0


def test_resend_needs_a_crash_and_dedupe_the_idempotent_consumer():
    from deliverylab.errors import LabError
    with pytest.raises(LabError, match="resend=True"):
        ProducerExperiment(resend=True).check()
    with pytest.raises(LabError, match="dedupe=True"):
        ConsumerExperiment(model="at-least-once", dedupe=True).check()

@pytest.mark.kafka
def test_a_consumer_deduping_on_the_message_id_stores_each_resent_message_once(cluster):
    s = run_consumer(ConsumerExperiment(model="idempotent-consumer", messages=150, dedupe=True,
                                        input_resend=CrashSpec("before-flush", every=50)),
                     cluster).summary
    assert s["input_crashes"] == 3 and s["crashes"] == 0  # the input's crashes are not the consumer's
    assert s["input_resent"] > 0 and s["input_records"] == 150 + s["input_duplicated"]
    assert s["input_duplicated"] > 0  # a copy for the dedupe to skip (else the run warns)
    assert (s["delivered_once"], s["duplicated"], s["lost"]) == (150, 0, 0)
    assert s["poll_skips"] == 0  # a copy read and not stored is no skip
