"""How a worker process ends, as its exit code tells its supervisor (supervisor.py).

A crash point is a SIGKILL the worker recorded first (crash.py); everything else is one of these.
The last line of the worker's stderr says why, for the codes that need a reason.
"""
from __future__ import annotations

DONE = 0  # its input is done
TIME_LIMIT = 3  # the run's time limit passed first: whatever it had not read is unread, not lost
FAILED = 4  # an error it cannot get past (stderr: the client's words)
# The brokers refused what the run asks, for good (a setting): the run cannot happen. stderr's
# last line is a JSON object {"problem": …, "fix": …}, the paragraph the learner reads.
REFUSED = 5
# Refused for now (a static member's id still owned by its dead predecessor): start it again
# after a pause. stderr's last line: JSON {"reason": Kafka's error name, "text": the client's words}.
REJOIN = 75  # EX_TEMPFAIL of sysexits.h: "try again later"
