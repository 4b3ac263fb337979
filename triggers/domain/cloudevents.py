"""An event as a CloudEvents 1.0 event in structured mode (the JSON format,
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md): what `GET /v1/events/{id}`
answers for `Accept: application/cloudevents+json`, and the body a push subscription with `format: cloudevents`
POSTs. Both build it here, from the event's public fields, so the two cannot drift apart.

How requests in the CloudEvents modes are read is HTTP's business: triggers/http/cloudevents.py.
"""

STRUCTURED = "application/cloudevents+json"


def structured(event: dict, cloudevents_id: str | None) -> dict:
    """The event (its public fields: `Event.public()`, or a delivery's copy of them) as a structured CloudEvent:
    its CloudEvents `id` (`cloudevents_id` if it came as a CloudEvent, else its `event_id`), `time` as sent (else
    `created_at`), and our own fields as extension attributes."""
    attributes = {
        "specversion": "1.0",
        "id": cloudevents_id or event["event_id"],
        "source": event["source"],
        "type": event["event_type"],
        "time": event.get("time") or event["created_at"],
        "datacontenttype": "application/json",
        "data": event["payload"],
        "eventid": event["event_id"],
        "eventstatus": event["status"],
        "expiresat": event["expires_at"],
    }
    if event.get("subject") is not None:
        attributes["subject"] = event["subject"]
    if event.get("acknowledged_at") is not None:
        attributes["acknowledgedat"] = event["acknowledged_at"]
    return attributes
