"""Docker engine answers -> ctrlplane results (pure: no I/O).

- :mod:`.workload`: the instance read back from its containers' labels, units,
  addresses, endpoints, the provision result and the instance list;
- :mod:`.state`: container state, per-service and instance status, cut-off joiners;
- :mod:`.usage`: stats samples summed into resource usage;
- :mod:`.releases`: the release history from its record volumes;
- :mod:`.logframes`: the engine's log and exec streams decoded into lines;
- :mod:`.leases`: the operation lease held by a lease container;
- :mod:`.units`: one unit row per container, and what the next call repairs.

Building what is sent to the engine is :mod:`ctrlplane.provider.docker.render`.
"""
