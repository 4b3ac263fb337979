"""The `jobs` function's entry point: SQS messages of the jobs queue → one step of a background job each."""

import os

from triggers.services import create_workers
from triggers.settings import from_environment
from triggers.workers import jobs_handler

handler = jobs_handler(create_workers(from_environment(os.environ)).jobs)
