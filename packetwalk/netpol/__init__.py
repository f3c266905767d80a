"""NetworkPolicy evaluation, pure: manifests in, who-may-talk-to-whom out.

``loader`` reads manifests into the typed ``model``; ``evaluator.analyze`` evaluates them (exact
Kubernetes semantics, pods grouped into label classes); ``connlist``, ``diff``, ``explain`` and
``graph`` present the result. Nothing here talks to a cluster, a terminal or a subprocess.
"""
