"""``invoke verify``: does the cluster enforce what the NetworkPolicies say?

Pure parts: :mod:`.plan` (which probes, and the evaluator's verdict for each), :mod:`.script`
(one shell script per source pod, and its output parsed), :mod:`.compare` (expected vs observed,
mismatches, the likely cause). :mod:`.run` drives a cluster through
:class:`~packetwalk.kube.access.ClusterAccess` only.
"""
