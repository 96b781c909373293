import Bitrix24Wire
import Foundation

/// An `ONIMCONNECTORDIALOGFINISH` event exactly as Bitrix24 posts it to an application's
/// handler: `application/x-www-form-urlencoded`, PHP bracket keys, every scalar a string,
/// keys in the portal's order (`event`, `event_handler_id`, `data`, `ts`, `auth`).
public struct OutgoingDialogFinish: Sendable, Hashable {
    /// The `auth` block: the portal's identity and the application's tokens.
    public struct Auth: Sendable, Hashable {
        public var accessToken: String
        public var expiresIn: Int64 = 3600
        public var scope: String = "imconnector"
        public var domain: String
        public var serverEndpoint: String = "https://oauth.bitrix.info/rest/"
        public var status: String = "F"
        public var clientEndpoint: String
        public var memberID: String
        public var refreshToken: String
        public var applicationToken: String

        public init(
            domain: String, memberID: String, applicationToken: String,
            accessToken: String = OutgoingDialogFinish.randomToken(),
            refreshToken: String = OutgoingDialogFinish.randomToken(),
            clientEndpoint: String? = nil
        ) {
            self.domain = domain
            self.memberID = memberID
            self.applicationToken = applicationToken
            self.accessToken = accessToken
            self.refreshToken = refreshToken
            self.clientEndpoint = clientEndpoint ?? "https://\(domain)/rest/"
        }
    }

    public var eventHandlerID: Int64 = 7
    /// `data[CONNECTOR]` and `connector.connector_id`.
    public var connector: String = "newcustomconnector"
    /// Open line id: `data[LINE]` and `connector.line_id`.
    public var lineID: Int64 = 105
    /// Chat of the dialog: `connector.chat_id` and `chat.id`.
    public var chatID: Int64 = 8
    public var sessionID: Int64 = 3282
    public var closed: String = "Y"
    public var parentSessionID: Int64 = 0
    /// Minutes until the session closes.
    public var closeTerm: Int64 = 10
    /// The user in the external system: `connector.user_id` and `user.id`.
    public var externalUserID: Int64 = 0
    /// When the portal's event queue sent it.
    public var ts: Int64 = Int64(Date().timeIntervalSince1970)
    public var auth: Auth

    public init(auth: Auth) { self.auth = auth }

    public static let name = "ONIMCONNECTORDIALOGFINISH"

    /// A token shaped like the portal's (70 hex characters).
    public static func randomToken() -> String { TokenStore.newToken() }

    /// The `data` part: what the handler reads under `data`, and what the offline queue stores as
    /// `EVENT_DATA`. JSON values (numbers as numbers); the form body turns them into strings.
    public var data: JSONValue {
        let dialog = dialogGroups.map { group in
            (group.name, JSONValue.object(Dictionary(uniqueKeysWithValues: group.members.map { ($0.key, $0.value) })))
        }
        return [
            "CONNECTOR": .string(connector), "LINE": .int(lineID),
            "DATA": [.object(Dictionary(uniqueKeysWithValues: dialog))],
        ]
    }

    /// `DATA[0]`, the closed dialog, group by group in the portal's key order.
    private var dialogGroups: [(name: String, members: [(key: String, value: JSONValue)])] {
        [
            ("connector", [
                ("connector_id", .string(connector)), ("line_id", .int(lineID)), ("chat_id", .int(chatID)),
                ("user_id", .int(externalUserID)),
            ]),
            ("session", [
                ("id", .int(sessionID)), ("closed", .string(closed)), ("parent_id", .int(parentSessionID)),
                ("close_term", .int(closeTerm)),
            ]),
            ("chat", [("id", .int(chatID))]),
            ("user", [("id", .int(externalUserID))]),
        ]
    }

    /// Bracket keys and string values, in the order the portal writes them.
    public var fields: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [
            ("event", Self.name),
            ("event_handler_id", String(eventHandlerID)),
            ("data[CONNECTOR]", connector),
            ("data[LINE]", String(lineID)),
        ]
        for group in dialogGroups {
            for member in group.members {
                fields.append(("data[DATA][0][\(group.name)][\(member.key)]", member.value.stringValue ?? ""))
            }
        }
        return fields + [
            ("ts", String(ts)),
            ("auth[access_token]", auth.accessToken),
            ("auth[expires_in]", String(auth.expiresIn)),
            ("auth[scope]", auth.scope),
            ("auth[domain]", auth.domain),
            ("auth[server_endpoint]", auth.serverEndpoint),
            ("auth[status]", auth.status),
            ("auth[client_endpoint]", auth.clientEndpoint),
            ("auth[member_id]", auth.memberID),
            ("auth[refresh_token]", auth.refreshToken),
            ("auth[application_token]", auth.applicationToken),
        ]
    }

    /// The request body, encoded like PHP's `http_build_query` (brackets percent-encoded).
    public var formBody: String {
        fields.map { "\(PHPForm.percentEncode($0.key))=\(PHPForm.percentEncode($0.value))" }.joined(separator: "&")
    }
}
