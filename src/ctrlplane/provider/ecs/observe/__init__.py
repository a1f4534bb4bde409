"""ECS answers -> our results (pure): the instance (:mod:`.instance`), release records
(:mod:`.records`, :mod:`.history`), tasks (:mod:`.tasks`), status (:mod:`.status`),
usage (:mod:`.usage`) and log events (:mod:`.logevents`)."""
