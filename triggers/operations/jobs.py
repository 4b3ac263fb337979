"""GET /v1/jobs/{job_id}."""

from triggers.domain.jobs import JobService
from triggers.http.responses import json_response


class Jobs:
    def __init__(self, jobs: JobService):
        self.jobs = jobs

    async def get_job(self, job_id: str, user: str):
        return json_response(self.jobs.get(user, job_id).public())
