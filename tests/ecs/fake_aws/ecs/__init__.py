"""The ECS part of the fake: the API (:mod:`.api`), its rules (:mod:`.rules`), the service
scheduler (:mod:`.scheduler`), tasks and their containers (:mod:`.tasks`, :mod:`.health`,
:mod:`.network`) and Container Insights (:mod:`.insights`)."""
