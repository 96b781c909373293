import Bitrix24Wire

/// One command of a `batch` call: `key` names its outcome, `method?query` is what Bitrix24 runs.
public struct BatchCommand: Sendable, Hashable {
    public var key: String
    public var method: String
    public var params: [String: JSONValue]
    /// Whether `result: false` means failure (notification methods answer `false`, with HTTP 200,
    /// when the recipient is missing or inactive). The typed builders set it.
    public var resultFalseIsFailure: Bool

    public init(key: String, method: String, params: [String: JSONValue] = [:], resultFalseIsFailure: Bool = false) {
        self.key = key
        self.method = method
        self.params = params
        self.resultFalseIsFailure = resultFalseIsFailure
    }

    /// The command as Bitrix24 takes it: `method?` + PHP `http_build_query` of the params.
    public var query: String { "\(method)?\(PHPForm.encode(params))" }

    /// Reads a command back from its `method?query` form (what a portal, or a simulator of one,
    /// receives). Every parameter comes back as text, as PHP sees it.
    public init(key: String, query: String) throws(PHPForm.DecodingError) {
        let parts = query.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let method = String(parts[0])
        guard isValidMethodName(method) else { throw PHPForm.DecodingError(reason: "invalid method name in a batch command") }
        let params = parts.count > 1 ? try PHPForm.decode(String(parts[1])) : [:]
        self.init(key: key, method: method, params: params)
    }
}

extension BatchCommand {
    public static func chatAdd(key: String, _ fields: ChatFields) -> Self {
        Self(key: key, method: "im.chat.add", params: fields.params)
    }

    public static func chatGet(key: String, entityType: String, entityID: String) -> Self {
        Self(key: key, method: "im.chat.get", params: ["ENTITY_TYPE": .string(entityType), "ENTITY_ID": .string(entityID)])
    }

    public static func notifyPersonal(key: String, _ notification: NotificationFields) -> Self {
        Self(key: key, method: "im.notify.personal.add", params: notification.params, resultFalseIsFailure: true)
    }

    public static func notifySystem(key: String, _ notification: NotificationFields) -> Self {
        Self(key: key, method: "im.notify.system.add", params: notification.params, resultFalseIsFailure: true)
    }

    public static func notifyDelete(key: String, _ target: NotificationFields.DeleteTarget) -> Self {
        Self(key: key, method: "im.notify.delete", params: target.params)
    }
}

/// Method names go into URL paths and batch queries: letters, digits, dots and underscores only.
func isValidMethodName(_ method: String) -> Bool {
    !method.isEmpty && method.utf8.count <= 200
        && method.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
}
