"""What Ostiary keeps in, or sends through, Redis (the ``redis`` extra): the revocation
notices between instances (:mod:`.revocation_notices`). Rate-limit counters go through the
``limits`` library (:mod:`ostiary.storage.rate_limits`)."""
