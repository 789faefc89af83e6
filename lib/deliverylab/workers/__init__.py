"""Worker processes: one module per delivery model (its loop), the producers, the retry stages.

The consumer loops (at_most_once, at_least_once, auto_commit, idempotent_consumer, exactly_once)
are written out in full, each in its own file, on purpose: they are parallel, not copies to
merge. A notebook shows a model's real loop (widgets.show_worker) beside its pseudo-code, and a
learner compares them side by side: the order of poll, process and commit IS the lesson, so a
shared loop with hooks would hide exactly what differs. What they truly share (consumer setup,
end of input, committing, the side effect) lives in common.py. share_consumer is the share-group
member (KIP-932): acknowledgements per record instead of offsets. hanging is a transactional
producer that opens a transaction and pauses itself (SIGSTOP) before ending it (notebook 06).
"""
