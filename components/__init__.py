"""Pulumi ComponentResources for packetwalk labs; they wire the engine's pure builders.

Component types (type tokens) and where they live:

- ``packetwalk:cluster:KindCluster`` (:mod:`components.kind_cluster`): the kind cluster, via the
  kind CLI in ``pulumi_command`` commands; used by the ``packetwalk-cluster`` program
  (:mod:`components.cluster_stack`).
- ``packetwalk:lab:Cni`` (:mod:`components.cni`), ``packetwalk:lab:MetalLb``
  (:mod:`components.metallb`), ``packetwalk:lab:Traefik`` (:mod:`components.traefik`),
  ``packetwalk:lab:LabObjects`` (:mod:`components.manifests`): the in-cluster lab, installed in
  that order by the ``packetwalk-lab`` program (:mod:`components.lab_stack`).

Chart values are plain data in :mod:`packetwalk.lab.charts`; manifests become typed
pulumi_kubernetes resources in :mod:`components.kube`.
"""
