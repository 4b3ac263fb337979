"""The `fanout` function's entry point: DynamoDB Streams records of the events table → deliveries."""

import os

from triggers.services import create_workers
from triggers.settings import from_environment
from triggers.workers import fanout_handler

handler = fanout_handler(create_workers(from_environment(os.environ)).fanout)
