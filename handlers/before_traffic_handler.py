"""The `beforeTraffic` function's entry point: CodeDeploy's hook before it shifts traffic to a new version of the api
function (the canary, on the stages that have one): the new version's health and readiness (triggers/canary.py)."""

import os

from triggers.canary import before_traffic_handler
from triggers.services import create_before_traffic_check
from triggers.settings import from_environment

handler = before_traffic_handler(create_before_traffic_check(from_environment(os.environ)))
