"""The `deliver` function's entry point: SQS messages of the push queue → one signed push (or sweep page) each."""

import os

from triggers.services import create_workers
from triggers.settings import from_environment
from triggers.workers import deliver_handler

handler = deliver_handler(create_workers(from_environment(os.environ)).push)
