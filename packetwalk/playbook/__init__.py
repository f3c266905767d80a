"""Lab modules as playbooks: the format (:mod:`.model`), reading it (:mod:`.loader`), templates
(:mod:`.templating`), stack facts (:mod:`.facts`), static checks (:mod:`.validate`) and the
step-through runner (:mod:`.runner`, :mod:`.actions`, :mod:`.expect`, :mod:`.progress`,
:mod:`.events`). Everything here reaches a cluster only through ``ClusterAccess``."""
