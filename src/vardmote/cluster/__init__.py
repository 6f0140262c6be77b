"""Cluster: several vardmote processes sharing live meetings and the event bus through Redis.

Switched on by ``VARDMOTE_REDIS_URL``; without it nothing here runs and a
live meeting lives in one process's memory (vardmote.rooms.live). The design
(docs/design-notes.md, "Several processes"):

- each live meeting has **one owner process**, holding a lease in Redis; only
  the owner runs the meeting's Room, its timers and its Janus session;
- any process accepts any participant's WebSocket and **relays** what they send
  to the meeting's inbox (a Redis stream); the owner reads the inbox in order
  and sends its messages back to the process holding each connection;
- after every change the owner **snapshots** the room and its Janus session and
  handles to Redis; when the owner dies or hands over, another process takes
  the lease, loads the snapshot, claims the Janus session (media never stops)
  and goes on reading the inbox where the snapshot says;
- domain events are appended to a Redis stream and handed to their meeting's
  inbox by the process that committed them, in order, whichever process runs
  the meeting.
"""
