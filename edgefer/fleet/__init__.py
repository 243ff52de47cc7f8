"""Fleet telemetry over MQTT: cameras publish crowd aggregates (and face events), ``edgefer fleet`` combines them.

    url.py        mqtt://[user[:pass]@]host[:port]/prefix, credentials (env / file) and TLS files
    client.py     the paho-mqtt client, and the start-up check that turns a bad password / CA into one line
    messages.py   the message envelopes (camera + model identity, run id, sequence number) and topics
    schemas/      their JSON Schemas (docs/fleet.md)
    spool.py      the bounded on-disk queue every message goes through (write-ahead, drained in order)
    publisher.py  the sender thread: spool -> QoS 1 publish -> PUBACK -> removed from the spool
    sink.py       the per-frame sink of the camera loop: intervals, face events, the privacy rule
    aggregator.py ``edgefer fleet``: subscribe, de-duplicate by sequence number, crowd.csv and crowd.png

paho-mqtt is imported lazily (in client.py), so ``edgefer infer`` without ``--publish`` never needs it.
"""
