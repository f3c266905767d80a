"""The packet walk: plan capture points for a request's path, capture at each, then analyse.

:mod:`~packetwalk.walk.plan` (pure) decides where to capture and why;
:mod:`~packetwalk.walk.orchestrate` runs the plan through ``ClusterAccess``.
"""
