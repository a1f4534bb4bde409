"""Pure reading of what the Machines API returned: :mod:`.machines` (one Machine),
:mod:`.control` (the control Machine's records and history), :mod:`.status` (status,
endpoints, usage), :mod:`.units` (one row per Machine) and :mod:`.listing` (instances of
an organization)."""
