"""Learning ClientIntents from traffic, as Otterize's network-mapper does (pure core).

``conntrack`` parses ``conntrack -L`` text; ``observe`` turns capture rows (TCP SYNs, UDP) and
conntrack entries into connections, deciding who is the client; ``inventory`` is the cluster at
capture time (pods with IPs, root owners and creation times, Services, nodes), read with the
cluster reader; ``learn`` applies the mapping rules (issue 11) and groups what is left into one
ClientIntents per client workload; ``output`` writes them (YAML with evidence comments, JSON,
a table); ``compare`` diffs them against declared intents, policies included. Nothing here
touches a cluster, a terminal or a subprocess: ``packetwalk.cli.map_tasks`` does.
"""

from __future__ import annotations

from packetwalk.mapper.compare import IntentsDiff, compare_intents
from packetwalk.mapper.conntrack import ConntrackEntry, parse_conntrack
from packetwalk.mapper.inventory import MapInventory
from packetwalk.mapper.learn import LearnedIntents, MapResult, learn
from packetwalk.mapper.observe import Connection, connections_from_captures
from packetwalk.mapper.output import render_json, render_table, render_yaml

__all__ = [
    "Connection",
    "ConntrackEntry",
    "IntentsDiff",
    "LearnedIntents",
    "MapInventory",
    "MapResult",
    "compare_intents",
    "connections_from_captures",
    "learn",
    "parse_conntrack",
    "render_json",
    "render_table",
    "render_yaml",
]
