"""Functions for `deliverylab.check` (the loops a learner writes in a notebook cell), a correct
one and a broken one of each kind. The tests check every one of them on real brokers.

    from deliverylab import check
    import loops
    check.consumer(loops.at_least_once, claim="at-least-once")        # passes
    check.consumer(loops.at_most_once, claim="at-least-once")         # fails: lost ids
    check.consumer(loops.at_least_once, claim="exactly-once")         # fails: duplicates
    check.transactional(loops.copy_in_transactions, claim="exactly-once")           # passes
    check.transactional(loops.copy_committing_outside, claim="exactly-once")        # fails
    check.producer(loops.send_all, claim="at-least-once", config={"acks": "1"},
                   fault="kill-leader-lagging-followers")             # fails: acked-but-lost
"""


def at_least_once(consumer, process):
    """Process, then commit that record's offset synchronously."""
    while True:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        process(msg)
        consumer.commit(message=msg, asynchronous=False)


def at_most_once(consumer, process):
    """Commit, then process: a crash in between skips the record for good."""
    while True:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        consumer.commit(message=msg, asynchronous=False)
        process(msg)


def copy_in_transactions(consumer, producer, output_topic):
    """Consume, produce the copies and send the input offsets in one transaction per batch."""
    while True:
        batch = [m for m in consumer.consume(10, timeout=1.0) if not m.error()]
        if not batch:
            continue
        producer.begin_transaction()
        for msg in batch:
            producer.produce(output_topic, key=msg.key(), value=msg.value())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata())
        producer.commit_transaction()


def copy_committing_outside(consumer, producer, output_topic):
    """The output in a transaction, but the offsets committed by the consumer after it: a crash
    between the two repeats the batch's output."""
    while True:
        batch = [m for m in consumer.consume(10, timeout=1.0) if not m.error()]
        if not batch:
            continue
        producer.begin_transaction()
        for msg in batch:
            producer.produce(output_topic, key=msg.key(), value=msg.value())
        producer.commit_transaction()
        consumer.commit(asynchronous=False)


def send_all(producer, topic, messages):
    """Send every message, then wait for every delivery report."""
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:  # the local queue is full: serve reports, then try again
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
