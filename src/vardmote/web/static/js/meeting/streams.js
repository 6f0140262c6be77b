// @ts-check
/**
 * What the subscriber PeerConnection of connection.js receives, by participant:
 * the `streams` of each subscriber offer map a mid to a participant's camera
 * or screen, and each (participant, kind) is shown as one MediaStream holding
 * its audio and video tracks. The map outlives a dropped WebSocket whose
 * media the server kept (reconnect.js): the same tracks go on.
 * @module meeting/streams
 */

/** @import { StreamKind, StreamName } from "./protocol.js" */

/**
 * A received stream: the participant and kind it belongs to (from the
 * subscriber offer's `streams`), and one MediaStream per (participant, kind)
 * holding its audio and video tracks.
 * @typedef {Object} TrackEventDetail
 * @property {string} participant
 * @property {StreamKind} kind
 * @property {MediaStream} stream
 * @property {MediaStreamTrack} track
 * @property {string} mid
 */

/** ReceivedStreams maps the subscriber's tracks to participants and reports each change. */
export class ReceivedStreams {
  /**
   * @param {(type: "track" | "track_removed", detail: TrackEventDetail) => void} emit
   */
  constructor(emit) {
    this.emit = emit;
    /** @type {Map<string, StreamName>} mid → stream of the current subscriber offer */
    this._mids = new Map();
    /** @type {Map<string, MediaStreamTrack>} mid → track given in a `track` event */
    this._midTracks = new Map();
    /** @type {Map<string, MediaStream>} "participant/kind" → the stream shown for it */
    this._streams = new Map();
  }

  /**
   * update gives the tracks of pc (its offer answered) to the participants named in streams.
   * @param {RTCPeerConnection} pc
   * @param {{mid: string, participant: string, kind: StreamKind}[]} streams
   */
  update(pc, streams) {
    /** @type {Map<string, StreamName>} */
    const mids = new Map();
    for (const s of streams) mids.set(String(s.mid), { participant: s.participant, kind: s.kind });
    this._drop(mids);
    this._mids = mids;
    for (const transceiver of pc.getTransceivers()) {
      const mid = transceiver.mid;
      if (mid === null) continue;
      const name = mids.get(mid);
      const track = transceiver.receiver.track;
      const direction = transceiver.currentDirection;
      if (!name || !track || direction === "inactive" || direction === "stopped") continue;
      if (this._midTracks.get(mid) === track) continue;
      const key = `${name.participant}/${name.kind}`;
      let stream = this._streams.get(key);
      if (!stream) {
        stream = new MediaStream();
        this._streams.set(key, stream);
      }
      for (const old of stream.getTracks()) if (old.kind === track.kind) stream.removeTrack(old);
      stream.addTrack(track);
      this._midTracks.set(mid, track);
      this.emit("track", { participant: name.participant, kind: name.kind, stream, track, mid });
    }
  }

  /** clear forgets every track (their PeerConnection is gone), each with `track_removed`. */
  clear() {
    this._drop(new Map());
    this._mids = new Map();
  }

  /**
   * _drop forgets the tracks whose mid no longer carries the same stream.
   * @param {Map<string, StreamName>} mids the new mid → stream map
   */
  _drop(mids) {
    for (const [mid, track] of [...this._midTracks]) {
      const before = this._mids.get(mid);
      const after = mids.get(mid);
      if (before && after && before.participant === after.participant && before.kind === after.kind) continue;
      this._midTracks.delete(mid);
      if (!before) continue;
      const key = `${before.participant}/${before.kind}`;
      const stream = this._streams.get(key);
      if (!stream) continue;
      stream.removeTrack(track);
      if (stream.getTracks().length === 0) this._streams.delete(key);
      this.emit("track_removed", { participant: before.participant, kind: before.kind, stream, track, mid });
    }
  }
}
