"""packetwalk: declarative Kubernetes networking labs and the engine that explains them.

The engine's pure core (policy semantics, intents, capture correlation, the playbook model)
imports nothing from Pulumi, the cluster client or the terminal; adapters live in
``packetwalk.kube`` (cluster access), ``packetwalk.cli`` (invoke tasks and rich views) and
``components`` (Pulumi ComponentResources, outside this package).
"""

__version__ = "0.1.0"
