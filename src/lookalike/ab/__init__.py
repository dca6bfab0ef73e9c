"""A/B testing domain: experiments, sticky assignment, the event log, statistics and reports.

No web code lives here: ``serve`` and ``cli`` import this package, never the other way round.
"""
