"""Jobs over many worker processes: a limit shared per vendor org, a journal shared per job.

Needs the ``distributed`` extra (``pip install 'unigroups[distributed]'``): Redis for the
shared state, Celery for the queue. See ``docs/distributed.md``.
"""
