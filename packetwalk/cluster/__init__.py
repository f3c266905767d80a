"""The cluster model: Kubernetes objects read once, by one reader, into typed values.

Pure (no cluster client, terminal or subprocess here). ``model`` holds the values; ``documents``
reads objects from files; ``fields``, ``pods`` and ``services`` are the one reader of Pods,
pod-owning workloads, owner references, Services, EndpointSlices, Endpoints and Nodes, validating
with the API server's rules; ``state`` is the read model of one cluster, live or from a snapshot,
that the walk's and the lab's facts are derived from. The NetworkPolicy evaluator (``netpol``),
the intents (``intents``), the walk (``walk``) and the lab modules (``playbook``) all read
through it.
"""
