"""A strict fake of the AWS services the ECS backend uses, served over real HTTP.

See :mod:`.fake` (the whole), :mod:`.server` and :mod:`.shapes` (the checks against
botocore's service models), :mod:`.ecs` (ECS: rules, scheduler, tasks), :mod:`.logs`,
:mod:`.dynamodb`, :mod:`.secretsmanager`, :mod:`.ssm` and :mod:`.tagging`.
"""

from .account import Account
from .errors import AwsError
from .fake import ROLES, SECURITY_GROUPS, SUBNETS, FakeAws

__all__ = ["ROLES", "SECURITY_GROUPS", "SUBNETS", "Account", "AwsError", "FakeAws"]
