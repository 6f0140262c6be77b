// @ts-check
/**
 * The data structures and messages of the meeting WebSocket (docs/protocol.md),
 * as JSDoc types: what the server sends a browser; and ConnectionError, what a
 * refusal (an `error` message) or a lost connection becomes. connection.js and
 * the UI modules import them.
 * @module meeting/protocol
 */

/** @typedef {"camera" | "screen"} StreamKind */
/** @typedef {"host" | "guest" | "room_device"} Role */

/**
 * @typedef {Object} Policy
 * @property {number | null} participant_limit
 * @property {boolean} lobby
 * @property {boolean} anonymous
 * @property {"standard" | "full_resolution"} content_sharing
 */

/**
 * @typedef {Object} Settings
 * @property {boolean} locked
 * @property {boolean} guests_may_unmute
 */

/**
 * @typedef {Object} ParticipantEntry
 * @property {string} id
 * @property {string} name
 * @property {Role} role
 * @property {"lobby" | "admitted" | "gone"} state
 * @property {boolean} camera
 * @property {boolean} microphone
 * @property {boolean} host_muted
 * @property {boolean} connected
 * @property {boolean} sharing
 * @property {boolean} floor
 * @property {string} [invited_as] what a guest's personal link was made for ("Patient", "Tolk"); hosts only
 * @property {boolean} [reconnecting] the person's media is reconnecting (their tile says "Återansluter…")
 * @property {MediaPath | null} [media_path] how the person's media goes (their `connection` report); hosts only
 * @property {boolean} [poor_connection] the person's connection loses packets or is slow; hosts only
 */

/**
 * How a PeerConnection's media goes: straight between the browser and Janus, or through a TURN
 * relay (either end of the selected candidate pair is a `relay` candidate).
 * @typedef {"direct" | "relay"} MediaPath
 */

/**
 * A relay server the browser may use (docs/protocol.md, "ice_servers"): an RTCIceServer with
 * short-lived TURN credentials. Handed out only to admitted participants.
 * @typedef {Object} IceServer
 * @property {string | string[]} urls
 * @property {string} [username]
 * @property {string} [credential]
 */

/**
 * What the browser reports of its media (client → server `connection`), from getStats.
 * @typedef {Object} ConnectionReport
 * @property {"connected" | "reconnecting"} state
 * @property {MediaPath | null} path null while nothing is connected
 * @property {"good" | "poor"} quality
 */

/**
 * @typedef {Object} StreamName
 * @property {string} participant
 * @property {StreamKind} kind
 */

/**
 * @typedef {Object} JoinedMessage
 * @property {"joined"} type
 * @property {string} participant
 * @property {Role} role
 * @property {"lobby" | "admitted"} state
 * @property {boolean} resumed
 * @property {boolean} [media_kept] a resume with `keep_media` whose media the server kept: offer nothing again
 * @property {string} resume
 * @property {Policy} policy
 * @property {Settings} settings
 * @property {ParticipantEntry[]} participants
 * @property {string[]} hands
 * @property {IceServer[]} [ice_servers] relay servers for every PeerConnection; admitted only ([] with no relay)
 */

/** @typedef {{type: "lobby", hosts_present: boolean}} LobbyMessage */
/** @typedef {{type: "admitted", participants: ParticipantEntry[], hands: string[], settings: Settings, ice_servers?: IceServer[]}} AdmittedMessage */
/** @typedef {{type: "ice_servers", ice_servers: IceServer[]}} IceServersMessage */
/** @typedef {{type: "denied" | "removed" | "link_gone" | "taken_over" | "host_left", message: string, seconds?: number}} NoticeMessage */
/** @typedef {{type: "ended", reason: "ended_by_host" | "host_left" | "cancelled" | "unprotected" | "type_changed", message: string}} EndedMessage */
/** @typedef {{type: "host_returned"}} HostReturnedMessage */
/** @typedef {{type: "participant", change: "add" | "update" | "remove", participant: ParticipantEntry}} ParticipantMessage */
/** @typedef {{type: "hands", queue: string[]}} HandsMessage */
/** @typedef {{type: "streams", streams: StreamName[]}} StreamsMessage */
/** @typedef {{type: "settings"} & Settings} SettingsMessage */
/** @typedef {{type: "chat", from: string, name: string, role: Role, text: string, to_hosts: boolean}} ChatMessage */
/** @typedef {{type: "muted", by: string, may_unmute: boolean}} MutedMessage */
/** @typedef {{type: "floor", granted: boolean}} FloorMessage */
/** @typedef {{type: "error", code: string, message: string, request?: string}} ErrorMessage */

/**
 * ConnectionError is a refusal of the server (an `error` message) or a lost connection.
 */
export class ConnectionError extends Error {
  /**
   * @param {string} code the protocol's error code, or "closed"
   * @param {string} message
   * @param {string} [request]
   */
  constructor(code, message, request) {
    super(message);
    this.name = "ConnectionError";
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} */
    this.request = request;
  }
}
