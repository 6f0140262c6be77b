"""Media: the Janus client, the VideoRoom requests, node placement, the embedded Janus and the relay.

Media never passes through Python: Janus's VideoRoom plugin forwards it. This
package is how vardmote drives Janus:

- :mod:`vardmote.media.janus` — the asyncio client of Janus's WebSocket API;
- :mod:`vardmote.media.videoroom` — the VideoRoom requests vardmote uses, typed;
- :mod:`vardmote.media.placement` — which Janus node holds a meeting;
- :mod:`vardmote.media.plane` — the pool of Janus connections and sessions, one per node;
- :mod:`vardmote.media.embedded` — the Janus that vardmote starts and supervises
  when no nodes are configured;
- :mod:`vardmote.media.echotest` — Janus's EchoTest, for the connection test before joining;
- :mod:`vardmote.media.relay_access` — the TURN relay's URLs and the short-lived
  credentials browsers get after admission;
- :mod:`vardmote.media.relay` — the coturn that vardmote starts and supervises
  (``VARDMOTE_TURN=embedded``);
- :mod:`vardmote.media.supervision` — what those two share: a child process
  started, watched, restarted after growing pauses and ended.
"""
